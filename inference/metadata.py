"""``model.json``: what the exported network needs to be served, written at packaging time."""

import dataclasses
import json

from inference import preprocess

FP32, INT8 = "fp32", "int8"
PRECISIONS = (FP32, INT8)


@dataclasses.dataclass(frozen=True)
class ModelMetadata:
    name: str
    classes: tuple
    short: int = 416
    max_size: int = 1024
    mean: tuple = preprocess.MEAN
    std: tuple = preprocess.STD
    nms_threshold: float = 0.45
    nms_topk: int = 400
    post_nms: int = 100
    weights: str = ""
    exported_with: dict = dataclasses.field(default_factory=dict)
    precision: str = FP32
    # the aspect mode's canvas long sides (preprocess); by precision when model.json has none
    buckets: tuple = ()
    # for INT8: how it was quantized (method, images, what stayed FP32 and why), and its
    # agreement with the FP32 network, measured at packaging time
    quantization: dict = dataclasses.field(default_factory=dict)
    agreement: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        default = preprocess.INT8_BUCKETS if self.precision == INT8 else preprocess.BUCKETS
        buckets = preprocess.check_buckets(self.buckets or default, self.short, self.max_size)
        object.__setattr__(self, "buckets", buckets)

    @property
    def preprocessing(self):
        """Keyword arguments for ``preprocess.to_tensor``."""
        return {
            "short": self.short,
            "max_size": self.max_size,
            "mean": self.mean,
            "std": self.std,
            "buckets": self.buckets,
        }

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "name": self.name,
                    "classes": list(self.classes),
                    "preprocessing": {
                        "short": self.short,
                        "max_size": self.max_size,
                        "mean": list(self.mean),
                        "std": list(self.std),
                        "buckets": list(self.buckets),
                    },
                    "nms": {
                        "threshold": self.nms_threshold,
                        "topk": self.nms_topk,
                        "post_nms": self.post_nms,
                    },
                    "weights": self.weights,
                    "exported_with": self.exported_with,
                    "precision": self.precision,
                    **({"quantization": self.quantization} if self.quantization else {}),
                    **({"agreement": self.agreement} if self.agreement else {}),
                },
                indent=2,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str) -> "ModelMetadata":
        data = json.loads(text)
        if data.get("precision", FP32) not in PRECISIONS:
            raise ValueError(
                f"precision {data['precision']!r} is not one of {', '.join(PRECISIONS)}"
            )
        pre, nms = data.get("preprocessing", {}), data.get("nms", {})
        base = cls(name="", classes=())  # the defaults
        return cls(
            name=data["name"],
            classes=tuple(data["classes"]),
            short=int(pre.get("short", base.short)),
            max_size=int(pre.get("max_size", base.max_size)),
            mean=tuple(pre.get("mean", base.mean)),
            std=tuple(pre.get("std", base.std)),
            buckets=tuple(pre.get("buckets", ())),
            nms_threshold=float(nms.get("threshold", base.nms_threshold)),
            nms_topk=int(nms.get("topk", base.nms_topk)),
            post_nms=int(nms.get("post_nms", base.post_nms)),
            weights=data.get("weights", ""),
            exported_with=data.get("exported_with", {}),
            precision=str(data.get("precision", FP32)),
            quantization=data.get("quantization", {}),
            agreement=data.get("agreement", {}),
        )
