"""The released HAT models, latency predictors and latency datasets (the original's ``download_model.py`` and README).

Names, tasks, published figures and download links. Dropbox share links are fetched as direct downloads
(``?dl=1``; the original's ``?dl=0`` is the preview page); predictors and latency datasets are raw files
of the original repository.
"""
from pathlib import Path
from typing import Dict, NamedTuple


class SubTransformerRecord(NamedTuple):
    params: int  # #params, embeddings and output layer excluded
    flops: int  # FLOPs of the dummy sentence, output layer excluded
    predicted_ms: float  # the released latency predictor of its task/hardware on this config
    bleu: float
    sacrebleu: float
    dropbox_id: str


TASK_FOLDERS = {"wmt14ende": "wmt14.en-de", "wmt14enfr": "wmt14.en-fr", "wmt19ende": "wmt19.en-de", "iwslt14deen": "iwslt14.de-en"}

SUBTRANSFORMERS: Dict[str, SubTransformerRecord] = {
    "HAT_wmt14ende_raspberrypi@3.5s_bleu@25.8": SubTransformerRecord(25217536, 1525463208, 3585.4, 25.8, 25.6, "pmfwwg1d1kmfdh5"),
    "HAT_wmt14ende_raspberrypi@4.0s_bleu@26.9": SubTransformerRecord(29421568, 1780961460, 4132.9, 26.9, 26.6, "ko0i65k1664p74u"),
    "HAT_wmt14ende_raspberrypi@4.5s_bleu@27.6": SubTransformerRecord(35719168, 2191749300, 4775.1, 27.6, 27.1, "f4y6u9cbcdykeha"),
    "HAT_wmt14ende_raspberrypi@5.0s_bleu@27.8": SubTransformerRecord(36774400, 2258503872, 5179.6, 27.8, 27.2, "av5vycafxo57x6w"),
    "HAT_wmt14ende_raspberrypi@6.0s_bleu@28.2": SubTransformerRecord(44127232, 2702745804, 6123.1, 28.2, 27.6, "ywedqumq91a4ekn"),
    "HAT_wmt14ende_raspberrypi@6.9s_bleu@28.4": SubTransformerRecord(48331264, 3024845016, 6964.0, 28.4, 27.8, "x7iucaotbeald3q"),
    "HAT_wmt14ende_xeon@137.9ms_bleu@25.8": SubTransformerRecord(30465536, 1873336488, 145.2, 25.8, 25.6, "bvq3y6igoyxe1t5"),
    "HAT_wmt14ende_xeon@204.2ms_bleu@27.6": SubTransformerRecord(35719168, 2191749300, 189.8, 27.6, 27.1, "yg12xz504uw2g1s"),
    "HAT_wmt14ende_xeon@278.7ms_bleu@27.9": SubTransformerRecord(40972800, 2543462592, 239.9, 27.9, 27.3, "l5ljas8zyg9ik65"),
    "HAT_wmt14ende_xeon@340.2ms_bleu@28.1": SubTransformerRecord(46226432, 2861875404, 285.4, 28.1, 27.5, "fkp61h8jbyt524i"),
    "HAT_wmt14ende_xeon@369.6ms_bleu@28.2": SubTransformerRecord(51480064, 3213588696, 339.0, 28.2, 27.6, "3mv3oaddeb132np"),
    "HAT_wmt14ende_xeon@450.9ms_bleu@28.5": SubTransformerRecord(56733696, 3532001508, 383.5, 28.5, 27.9, "bjldda9nzj7cpni"),
    "HAT_wmt14ende_titanxp@57.1ms_bleu@25.8": SubTransformerRecord(30465536, 1873336488, 69.0, 25.8, 25.6, "71w5t0qidsxqe1e"),
    "HAT_wmt14ende_titanxp@91.2ms_bleu@27.6": SubTransformerRecord(35719168, 2191749300, 106.1, 27.6, 27.1, "j0hnmxw6xz6tskh"),
    "HAT_wmt14ende_titanxp@126.0ms_bleu@27.9": SubTransformerRecord(40972800, 2543462592, 145.2, 27.9, 27.3, "pyetdnbz1zvcfg5"),
    "HAT_wmt14ende_titanxp@146.7ms_bleu@28.1": SubTransformerRecord(51204480, 3172784832, 141.2, 28.1, 27.5, "ixn832oai2k44j9"),
    "HAT_wmt14ende_titanxp@208.1ms_bleu@28.5": SubTransformerRecord(49380864, 3087759576, 227.6, 28.5, 27.8, "owpdwmqwpn9jw14"),
    "HAT_wmt14enfr_raspberrypi@4.3s_bleu@38.8": SubTransformerRecord(25217536, 1525463208, 4346.8, 38.8, 36.0, "ku97fwz1oj1a112"),
    "HAT_wmt14enfr_raspberrypi@5.3s_bleu@40.1": SubTransformerRecord(35719168, 2225049780, 5448.4, 40.1, 37.3, "9noopb605fqmjpl"),
    "HAT_wmt14enfr_raspberrypi@5.8s_bleu@40.6": SubTransformerRecord(36774400, 2258503872, 5894.2, 40.6, 37.8, "vmdkh0ctpdac7gr"),
    "HAT_wmt14enfr_raspberrypi@6.9s_bleu@41.1": SubTransformerRecord(44127232, 2702745804, 6907.5, 41.1, 38.3, "dbo9abn5pnb6qgz"),
    "HAT_wmt14enfr_raspberrypi@7.8s_bleu@41.4": SubTransformerRecord(49380864, 3087759576, 8065.6, 41.4, 38.5, "x8tsbxbwkk64ejg"),
    "HAT_wmt14enfr_raspberrypi@9.1s_bleu@41.8": SubTransformerRecord(56733696, 3565301988, 9065.2, 41.8, 38.9, "zbsbl5e96y3t5zl"),
    "HAT_wmt14enfr_xeon@154.7ms_bleu@39.1": SubTransformerRecord(30465536, 1840036008, 139.3, 39.1, 36.3, "6xswl0oesuvmqk5"),
    "HAT_wmt14enfr_xeon@208.8ms_bleu@40.0": SubTransformerRecord(35719168, 2225049780, 194.9, 40.0, 37.2, "ot3zt8nenda54j7"),
    "HAT_wmt14enfr_xeon@329.4ms_bleu@41.1": SubTransformerRecord(44127232, 2702745804, 297.9, 41.1, 38.2, "epe2lvus4l40v9o"),
    "HAT_wmt14enfr_xeon@394.5ms_bleu@41.4": SubTransformerRecord(51480064, 3280189656, 365.7, 41.4, 38.5, "qnt2qzkb3i054c6"),
    "HAT_wmt14enfr_xeon@442.0ms_bleu@41.7": SubTransformerRecord(56733696, 3565301988, 418.8, 41.7, 38.8, "79zcolb53jbhchk"),
    "HAT_wmt14enfr_titanxp@69.3ms_bleu@39.1": SubTransformerRecord(30465536, 1840036008, 56.8, 39.1, 36.3, "hvy255ls277onjw"),
    "HAT_wmt14enfr_titanxp@94.9ms_bleu@40.0": SubTransformerRecord(35719168, 2225049780, 97.0, 40.0, 37.2, "rvfv99jbh4n7qys"),
    "HAT_wmt14enfr_titanxp@132.9ms_bleu@40.7": SubTransformerRecord(40972800, 2510162112, 133.5, 40.7, 37.8, "u6u3u40pr4f5mzh"),
    "HAT_wmt14enfr_titanxp@168.3ms_bleu@41.1": SubTransformerRecord(46226432, 2895175884, 173.2, 41.1, 38.3, "wlbbmnrl61dx4z7"),
    "HAT_wmt14enfr_titanxp@208.3ms_bleu@41.7": SubTransformerRecord(51480064, 3246889176, 212.1, 41.7, 38.8, "e41lnsktn5bb2fz"),
    "HAT_wmt19ende_titanxp@55.7ms_bleu@42.4": SubTransformerRecord(36892672, 2266652328, 60.3, 42.4, 41.9, "6pokem8orb75ldh"),
    "HAT_wmt19ende_titanxp@93.2ms_bleu@44.4": SubTransformerRecord(42277376, 2634094260, 99.9, 44.4, 43.9, "zgcd70pzf1sle4z"),
    "HAT_wmt19ende_titanxp@134.5ms_bleu@45.4": SubTransformerRecord(40972800, 2543462592, 140.0, 45.4, 44.7, "mm827rst6a144zy"),
    "HAT_wmt19ende_titanxp@176.1ms_bleu@46.2": SubTransformerRecord(46226432, 2861875404, 179.7, 46.2, 45.6, "y0vov0n9zt50n9c"),
    "HAT_wmt19ende_titanxp@204.5ms_bleu@46.5": SubTransformerRecord(51480064, 3180288216, 217.5, 46.5, 45.7, "w1si4mgf1e3l8oj"),
    "HAT_wmt19ende_titanxp@237.8ms_bleu@46.7": SubTransformerRecord(56733696, 3532001508, 256.6, 46.7, 46.0, "rljih3t0hglp39a"),
    "HAT_iwslt14deen_titanxp@45.6ms_bleu@33.4": SubTransformerRecord(16820736, 781008012, 48.6, 33.4, 32.5, "ntj1gfskish8vz3"),
    "HAT_iwslt14deen_titanxp@74.5ms_bleu@34.2": SubTransformerRecord(19975168, 927996056, 79.3, 34.2, 33.3, "gjq46181s3xbz0k"),
    "HAT_iwslt14deen_titanxp@109.0ms_bleu@34.5": SubTransformerRecord(23129600, 1125385380, 110.8, 34.5, 33.6, "fg3r3tk2vjg0diq"),
    "HAT_iwslt14deen_titanxp@137.8ms_bleu@34.7": SubTransformerRecord(27333632, 1320607920, 143.5, 34.7, 33.8, "3j5vu5jh71xwec1"),
    "HAT_iwslt14deen_titanxp@168.8ms_bleu@34.8": SubTransformerRecord(31537664, 1515830460, 175.5, 34.8, 33.9, "5xy9hdjuc5c6sw5"),
}

SUPERTRANSFORMER_DROPBOX_IDS = {
    "HAT_wmt14ende_super_space0": "pkdddxvvpw9a4vq",
    "HAT_wmt14enfr_super_space0": "asegvw9qzpxui6a",
    "HAT_wmt19ende_super_space0": "uc0lw6jdep1vazc",
    "HAT_iwslt14deen_super_space1": "yv0mn8ns36gxkhs",
}

ORIGINAL_REPOSITORY_RAW = "https://raw.githubusercontent.com/mit-han-lab/hardware-aware-transformers/master"
LATENCY_TARGETS = tuple(f"{task}_{hardware}" for task in ("wmt14ende", "wmt14enfr")
                        for hardware in ("gpu_titanxp", "cpu_xeon", "cpu_raspberrypi")) + (
    "wmt19ende_gpu_titanxp", "iwslt14deen_gpu_titanxp")
"""The task/hardware pairs with a released latency predictor and latency dataset."""


class ZooEntry(NamedTuple):
    """One downloadable file: what it is, where it comes from, where it goes (relative to the project root)."""

    name: str
    kind: str  # 'subtransformer', 'supertransformer', 'latency predictor', 'latency dataset'
    url: str
    path: Path


def dropbox_url(dropbox_id: str, name: str) -> str:
    return f"https://www.dropbox.com/s/{dropbox_id}/{name}.pt?dl=1"


def zoo_entries(save_path: str = "downloaded_models", latency_path: str = "latency_dataset") -> Dict[str, ZooEntry]:
    """Every downloadable file by name: 44 SubTransformers and 4 SuperTransformers (into ``save_path``), 8 latency
    predictors (``<target>.pt``, into ``<latency_path>/predictors``) and 8 latency datasets
    (``<target>_all.csv``, into ``latency_path``)."""
    entries = {name: ZooEntry(name, "subtransformer", dropbox_url(record.dropbox_id, name), Path(save_path, f"{name}.pt"))
               for name, record in SUBTRANSFORMERS.items()}
    entries.update({name: ZooEntry(name, "supertransformer", dropbox_url(dropbox_id, name), Path(save_path, f"{name}.pt"))
                    for name, dropbox_id in SUPERTRANSFORMER_DROPBOX_IDS.items()})
    for target in LATENCY_TARGETS:
        entries[f"{target}.pt"] = ZooEntry(f"{target}.pt", "latency predictor",
                                           f"{ORIGINAL_REPOSITORY_RAW}/latency_dataset/predictors/{target}.pt",
                                           Path(latency_path, "predictors", f"{target}.pt"))
        entries[f"{target}_all.csv"] = ZooEntry(f"{target}_all.csv", "latency dataset",
                                                f"{ORIGINAL_REPOSITORY_RAW}/latency_dataset/{target}_all.csv",
                                                Path(latency_path, f"{target}_all.csv"))
    return entries
