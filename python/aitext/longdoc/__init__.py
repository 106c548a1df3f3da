"""Long documents: a text over the model's input budget is processed in chunks (map-reduce).

- `budget`: the input budget of a model, a prompt's overhead, the chunk sizes they allow;
- `split`: content-defined chunking of the text, off the event loop;
- `calls`: one cached model call (a chunk's map result, or a reduce step) and the figures;
- `mapper`: every chunk's map result, a bounded number at a time;
- `summaries`: the hierarchical reduce of summaries (model calls);
- `combine`: key points, questions and sentiment combined by computation;
- `rank`: the qa ranker (BM25) that picks the chunks an answer is sought in;
- `engine`: one long request, from the chunks to one result.

The pipeline calls `engine.LongDocuments`; nothing else here is used outside the package.
Unlike the rest of the service, this package names operations: how to combine results is
each operation's own. A sixth operation needs a reader in `calls.read` and a branch in
`engine.LongDocuments.process` before its long texts work (short ones follow the table).
"""
