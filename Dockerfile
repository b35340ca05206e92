# The GPU image: `docker build -t autotrain-gradio .` then
#   docker run --gpus all -p 127.0.0.1:7860:7860 -v autotrain-ws:/workspace -e HF_TOKEN autotrain-gradio
# CUDA runtime base; torch 2.13.0 from PyPI is the CUDA 13.0 build (NVIDIA driver 580 or newer on the host).
FROM nvidia/cuda:13.0.0-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# The package as a wheel (not editable) with every extra: its profiles and model configs are package data.
WORKDIR /opt/src
COPY pyproject.toml README.md ./
COPY autotrain_gradio ./autotrain_gradio
RUN pip install "torch==2.13.0" ".[quant,llm,st,tabular,metrics,ray,space,tracking]" && rm -rf /opt/src

# A non-root user; the workspace (datasets, runs, the job queue) is a volume that outlives the container.
RUN useradd --create-home --uid 1000 user && mkdir -p /workspace && chown user:user /workspace
USER user
ENV AUTOTRAIN_WORKSPACE=/workspace HF_HOME=/home/user/.cache/huggingface \
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7860 GRADIO_ANALYTICS_ENABLED=False
VOLUME /workspace
WORKDIR /workspace
EXPOSE 7860
ENTRYPOINT ["autotrain"]
CMD ["app"]
