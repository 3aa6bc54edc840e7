"""The ComfyUI generation backend: a pool of the operator's ComfyUI servers and a folder of
workflows, each workflow a model choice. See ``backend`` for how a job runs."""

from apps.generation.backends.comfyui.backend import ComfyUIBackend, ComfyUIWorkflowBackend

__all__ = ["ComfyUIBackend", "ComfyUIWorkflowBackend"]
