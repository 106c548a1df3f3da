"""The offline `local` model: deterministic, extractive, no network.

Every operation works on one linear pass of analysis (sentences, tokens,
sentence frequencies) over the document, so multi-megabyte texts stay
cheap: no sentence-pair loops, and VADER reads a bounded, evenly spaced
sample of sentences.

- `text`: sentence splitting, tokens, stems, stopwords
- `analysis`: the per-document pass the algorithms share
- `summarize`, `sentiment`, `key_points`, `questions`, `qa`: one algorithm each,
  referenced by the operations table (`aitext.operations`)
- `dispatch`: picks an operation's algorithm from that table
- `model`: the pydantic-ai FunctionModel that reads the prompt and answers with the output tool

This package imports nothing that imports `aitext.operations`, which imports
the algorithm modules: only `dispatch` and `model` read the table.
"""

# Bump when an algorithm changes what it returns: it feeds the prompt version, hence the cache key.
ALGORITHM_VERSION = "1"
