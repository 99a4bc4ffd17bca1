"""Video segmentation: frame sources, sessions, the offline predictor and the streaming tracker."""
