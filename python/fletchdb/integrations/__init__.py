"""Vector stores for LangChain and LlamaIndex, over FletchDB collections.

Import the one you use; this package imports neither framework (nor does ``fletchdb``)::

    from fletchdb.integrations.langchain import FletchVectorStore    # pip install "fletchdb[langchain]"
    from fletchdb.integrations.llama_index import FletchVectorStore  # pip install "fletchdb[llama-index]"

Both name records with strings; how those map to FletchDB's integer ids is in ``_keys``.
"""
