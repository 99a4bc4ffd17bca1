"""The SAM 2 model: one concept per module, parameters plus pure tensor-level steps (see :mod:`.sam2`).

Modules hold parameters and buffers, and no per-image or per-video data. Three modules also keep a
cache of tensors derived from their configuration (and, in one case, their parameters), because the
steps ask for the same tensor on every frame and building it costs more than the step's own work on
small inputs (figures measured on a loaded 2-core CPU, 2026-12, tiny layout at 1024 input):

- :class:`.hiera.Hiera` keeps its positional embedding at the trunk's input grid (the background
  embedding interpolated bicubically, plus the tiled window embedding): 144 ms to build at 256 x 256,
  once per image otherwise. One entry, keyed by the grid and the two parameters' data pointers,
  versions, devices and dtypes, so that loading or editing weights, or moving the model, builds it
  again; only with the inference kernels, since a training step must not keep an autograd graph.
- :class:`.rope.AxialRope` (used by the memory attention) keeps its rotation tables per grid and
  device: 69 ms for the 64 x 64 grid, once per tracked frame otherwise.
- :class:`.position.SinePositionEncoding` (the neck's and the memory encoder's) keeps its encoding per grid and
  device: 34 ms for 64 x 64, once per image and per memory otherwise.

They are not buffers on purpose: a buffer would be a ``state_dict`` entry (the official checkpoints
have none) and would follow ``.to()`` whatever its grid. None is built while ``torch.compile`` traces
(a cached tensor would become a guard and recompile); compiled graphs build the table inside the graph.
"""
