"""Training and fine-tuning of SAM 2 models.

- :mod:`~samstream.data.synthetic`: synthetic videos with exact ground truth;
- :mod:`~samstream.train.clips`, :mod:`~samstream.train.augment`: clips of N frames and M objects,
  augmented consistently; :mod:`~samstream.train.build` adapts :mod:`samstream.data` readers;
- :mod:`~samstream.train.prompts`: simulated mask / click / box prompts and corrective clicks;
- :mod:`~samstream.train.losses`: focal + dice (best candidate), IoU and object-score losses;
- :mod:`~samstream.train.forward`: the model run over a clip with memory;
- :mod:`~samstream.train.optim`: AdamW, layer-wise decay, warm-up and cosine;
- :mod:`~samstream.train.loop`, :mod:`~samstream.train.checkpoint`, :mod:`~samstream.train.distributed`:
  the loop, resumable checkpoints, torchrun / DDP;
- :mod:`~samstream.train.config`: YAML configs (the `train` and `finetune` commands are :mod:`samstream.cli.train`).
"""

from samstream.train.config import TrainConfig, load_config
from samstream.train.loop import Trainer

__all__ = ["TrainConfig", "Trainer", "load_config"]
