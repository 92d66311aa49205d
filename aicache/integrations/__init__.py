"""Adapters for the frameworks people call models through, each in its own module and each
needing its framework installed (an optional extra):

- :mod:`aicache.integrations.langchain`: ``AICacheLangChain``, a LangChain LLM cache
  (``pip install 'aicache[langchain]'``);
- :mod:`aicache.integrations.litellm`: ``AICacheLiteLLM``, a backend for ``litellm.Cache``
  (``pip install 'aicache[litellm]'``).

Frameworks that take an SDK client (pydantic-ai, instructor) need no adapter: hand them
``aicache.cached_client(...)``. See ``docs/integrations.md``.
"""

__all__: list[str] = []
