"""Accuracy on labelled photos, through the endpoint that will ship: COCO annotations in, every
photo sent, COCO results out, scored by pycocotools."""
