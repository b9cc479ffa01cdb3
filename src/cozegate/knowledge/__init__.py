"""Knowledge: sources synced into a vector index (chunks, embeddings, Milvus), and retrieval over it.

Import from the submodules (``service``, ``sync``, ``retrieval``, ...): this package imports nothing
itself, so a command that needs only a small part does not load Milvus or a model.
"""
