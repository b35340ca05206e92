"""The app's theme: Gradio's Default theme with colours that meet WCAG AA (4.5:1 for text, hints and placeholders,
also on the primary button) and a focus ring anyone can see. tests/ui/test_theme.py measures the rendered page in
Chromium.
"""

from __future__ import annotations

import gradio as gr

INK = "#1f2937"  # body text: 14.7:1 on white
HINT = "#4b5563"  # hints, info lines, placeholders: 7.6:1 on white, 6.9:1 on the light block background
PRIMARY = "#1d4ed8"  # primary buttons (white text: 6.7:1)
PRIMARY_HOVER = "#1e40af"
FOCUS = "#1d4ed8"


def build_theme() -> gr.themes.Base:
    """The theme object handed to launch / mount_gradio_app."""
    return gr.themes.Default(primary_hue="blue", neutral_hue="gray").set(
        body_text_color=INK, body_text_color_subdued=HINT, block_info_text_color=HINT, block_label_text_color=INK,
        block_title_text_color=INK, input_placeholder_color=HINT, checkbox_label_text_color=INK,
        button_primary_background_fill=PRIMARY, button_primary_background_fill_hover=PRIMARY_HOVER,
        button_primary_text_color="#ffffff", button_primary_text_color_hover="#ffffff",
        button_primary_border_color=PRIMARY, button_secondary_text_color=INK,
        button_cancel_background_fill="#b91c1c", button_cancel_text_color="#ffffff",
        input_border_color_focus=FOCUS, link_text_color=PRIMARY, color_accent=PRIMARY,
        body_text_color_subdued_dark="#d1d5db", block_info_text_color_dark="#d1d5db",
        input_placeholder_color_dark="#d1d5db",
    )


# A visible focus ring on everything focusable (keyboard users see where they are); small images scaled up
# crisply instead of collapsing; the job progress bar full width.
CSS = f"""
:focus-visible, button:focus-visible, input:focus-visible, textarea:focus-visible, [role=tab]:focus-visible {{
  outline: 3px solid {FOCUS} !important; outline-offset: 2px !important; }}
input:focus, textarea:focus {{ box-shadow: 0 0 0 3px {FOCUS}55 !important; }}
button[role=tab].selected {{ color: {PRIMARY} !important; }}
#try-without img, #try-with img {{ image-rendering: pixelated; width: 100%; height: 100%; object-fit: contain; }}
.job-progress progress {{ width: 100%; height: 1.1rem; accent-color: {PRIMARY}; }}
.job-progress span {{ display: block; margin-top: .25rem; color: {INK}; }}
"""
