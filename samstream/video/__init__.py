"""Video segmentation: the tracker core, sessions, the offline predictor and the streaming tracker;
frames (decoding, the packet index, stream readers, read-ahead) in the :mod:`samstream.video.frames` wing."""
