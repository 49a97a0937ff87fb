"""Live progress: the run stream (SSE over django-eventstream), stream tokens, the
channel manager, and the fan-in that brings other processes' events to this one
(Redis pub/sub in production, a storage-polling bridge in the embedded mode)."""
