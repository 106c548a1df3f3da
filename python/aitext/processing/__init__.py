"""Model side of the service: pydantic-ai agents and the offline `local` model.

Contract with the servicer (`aitext.pipeline.Processor` states it as a Protocol):
- `processor.build_processor(settings) -> AgentProcessor`, once per process
- `AgentProcessor.model_name`, `AgentProcessor.prompt_version` (both go into cache keys)
- `AgentProcessor.circuit_state`: "closed", "open" or "half_open"
- `await AgentProcessor.run(operation_name, text, options, question, timeout=...) -> OperationResult`
  where options are the effective options (defaults applied) and timeout is
  what is left of the caller's deadline, in seconds
- `unavailable.ProviderUnavailable` when the provider cannot answer (retries exhausted,
  circuit open, timeout, rejected request, invalid output): the servicer maps
  it to UNAVAILABLE. A processor never returns a made-up fallback answer.

This package's __init__ imports nothing: `aitext.operations` imports the
result types and the local algorithms from here, and the processor imports
`aitext.operations`, so importing the processor here would make a cycle.
"""
