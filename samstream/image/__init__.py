from samstream.image.predictor import ImagePrediction, ImagePredictor

__all__ = ["ImagePrediction", "ImagePredictor"]
