"""Model side of the service: pydantic-ai agents and the offline `local` model.

Contract with the servicer:
- `build_processor(settings) -> Processor`
- `Processor.model_name`, `Processor.prompt_version` (both go into cache keys)
- `await Processor.run(operation_name, text, options, question) -> Result`
  where options are the effective options (defaults applied)
- `ProviderUnavailable` when the provider cannot answer (retries exhausted,
  circuit open, timeout): the servicer maps it to UNAVAILABLE. A Processor
  never returns a made-up fallback answer.
"""
