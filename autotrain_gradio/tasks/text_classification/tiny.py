"""A tiny BERT built in code (`tiny:bert`): a seeded BertForSequenceClassification and a real WordPiece tokenizer
whose vocabulary is built offline, laid out like google-bert/bert-base-uncased so the Auto classes load it.

The vocabulary holds every printable ASCII character, alone and as a `##` continuation, so any English text
encodes without [UNK] (a rare word becomes characters), plus common English words and suffixes so most words
are one or two tokens."""

from __future__ import annotations

import string
from pathlib import Path

from autotrain_gradio.tiny import seeded

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS = """
the of and to a in is it you that he was for on are with as i his they be at one have this from or had by not word
but what some we can out other were all there when up use your how said an each she which do their time if will way
about many then them write would like so these her long make thing see him two has look more day could go come did
number sound no most people my over know water than call first who may down side been now find any new work part
take get place made live where after back little only round man year came show every good me give our under name
very through just form sentence great think say help low line differ turn cause much mean before move right boy old
too same tell does set three want air well also play small end put home read hand port large spell add even land
here must big high such follow act why ask men change went light kind off need house picture try us again animal
point mother world near build self earth father head stand own page should country found answer school grow study
still learn plant cover food sun four between state keep eye never last let thought city tree cross farm hard start
might story saw far sea draw left late run while press close night real life few north book carry took science eat
room friend began idea fish mountain stop once base hear horse cut sure watch color face wood main open seem
together next white children begin got walk example ease paper group always music those both mark often letter until
mile river car feet care second enough plain girl usual young ready above ever red list though feel talk bird soon
body dog family direct pose leave song measure door product black short numeral class wind question happen complete
ship area half rock order fire south problem piece told knew pass since top whole king space heard best hour better
true during hundred five remember step early hold west ground interest reach fast verb sing listen six table travel
less morning ten simple several vowel toward war lay against pattern slow center love person money serve appear road
map rain rule govern pull cold notice voice unit power town fine certain fly fall lead cry dark machine note wait
plan figure star box noun field rest correct able pound done beauty drive stood contain front teach week final gave
green oh quick develop ocean warm free minute strong special mind behind clear tail produce fact street inch
multiply nothing course stay wheel full force blue object decide surface deep moon island foot system busy test
record boat common gold possible plane stead dry wonder laugh thousand ago ran check game shape equate hot miss
brought heat snow tire bring yes distant fill east paint language among bad terrible awful hate excellent wonderful
amazing movie film review product service price quality happy sad angry poor fantastic boring loved hated recommend
worst
"""
WORDS = _WORDS.split()
SUFFIXES = ["s", "es", "ed", "ing", "ly", "er", "est", "ion", "ment", "ness", "able", "ful", "less"]


def vocabulary() -> dict[str, int]:
    """token -> id: special tokens, single characters, their ## continuations, suffixes, then words."""
    chars = [c for c in string.printable if not c.isspace() and not c.isupper()]
    tokens = SPECIAL + chars + [f"##{c}" for c in chars] + [f"##{s}" for s in SUFFIXES] + WORDS
    return {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}


def build_bert(path: Path, num_labels: int = 2) -> None:
    """A seeded BertForSequenceClassification (hidden 32, 2 layers, 2 heads, 512 positions) and its uncased
    WordPiece tokenizer, saved to `path`."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    tokenizer = BertTokenizer(vocab=vocabulary(), do_lower_case=True, model_max_length=512)
    with seeded(0):
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=512, num_labels=num_labels,
                            pad_token_id=tokenizer.pad_token_id)
        BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
