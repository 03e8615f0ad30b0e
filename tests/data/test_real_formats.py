"""Fixtures written by hand from the releases' documented formats (not by our generator): the loaders
read what the real files contain."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from avssl.data.datasets import load_index
from avssl.data.datasets.base import ClipDataset, ClipSpec
from avssl.data.media_writer import write_image, write_video, write_wav


def _tiny_video(path, seconds=1.0, channels=1):
    t = np.arange(int(48000 * seconds)) / 48000
    audio = np.stack([0.2 * np.sin(2 * np.pi * 300 * t)] * channels).astype(np.float32)
    frames = [np.full((32, 48, 3), 40 + i, np.uint8) for i in range(int(10 * seconds))]
    write_video(path, frames, 10, audio, 48000)


def test_vggsound_release_csv(tmp_path):
    (tmp_path / "vggsound.csv").write_text(
        "---g-f_I2yQ,1,people marching,test\n"
        "--0PQM4-hqg,30,waterfall burbling,train\n"
        '--9O4XZOge4,30,"female speech, woman speaking",train\n'
        '--Lj4Y_96f0,120,"bee, wasp, etc. buzzing",train\n'
    )
    for clip in ("---g-f_I2yQ_000001", "--0PQM4-hqg_000030", "--9O4XZOge4_000030"):
        _tiny_video(tmp_path / "video" / f"{clip}.mp4")
    train = load_index("vggsound", tmp_path, "train")
    assert train.classes == [
        "bee, wasp, etc. buzzing",
        "female speech, woman speaking",
        "people marching",
        "waterfall burbling",
    ]
    assert [i.id for i in train.items] == ["--0PQM4-hqg_000030", "--9O4XZOge4_000030"]
    assert [train.classes[i.label] for i in train.items] == [
        "waterfall burbling",
        "female speech, woman speaking",
    ]
    assert (
        len(train.problems) == 1
        and "--Lj4Y_96f0_000120" in train.problems[0]
        and "row 4" in train.problems[0]
    )
    test = load_index("vggsound", tmp_path, "test")
    assert [i.id for i in test.items] == ["---g-f_I2yQ_000001"]
    sample = ClipDataset(test.items, ClipSpec(duration_s=0.5, fps=4, size=(16, 16)), mode="eval")[0]
    assert sample["video"].shape == (2, 3, 16, 16) and sample["label"] == 2


def test_flickr_soundnet_release_layout(tmp_path):
    (tmp_path / "flickr_test.csv").write_text("10000130166,202\n10007936344,0\n10008553263,309\n")
    xml = (
        "<annotation><object><bbox><label>1</label><xmin>83</xmin><ymin>10</ymin><xmax>200</xmax>"
        "<ymax>180</ymax></bbox></object><object><bbox><label>1</label><xmin>90</xmin><ymin>12</ymin>"
        "<xmax>210</xmax><ymax>170</ymax></bbox></object></annotation>"
    )
    for item in ("10000130166", "10007936344"):
        (tmp_path / "Annotations").mkdir(exist_ok=True)
        (tmp_path / "Annotations" / f"{item}.xml").write_text(xml)
        write_image(tmp_path / "frames" / f"{item}.jpg", np.full((200, 300, 3), 90, np.uint8))
        write_wav(tmp_path / "audio" / f"{item}.wav", np.zeros((1, 16000 * 3), np.float32), 16000)
    index = load_index("flickr", tmp_path)
    assert [i.id for i in index.items] == ["10000130166", "10007936344"]
    assert index.items[0].boxes == [[83, 10, 200, 180], [90, 12, 210, 170]] and index.items[0].box_space == (
        256,
        256,
    )
    assert len(index.problems) == 1 and "10008553263" in index.problems[0]
    sample = ClipDataset(
        index.items, ClipSpec(duration_s=3.0, size=(224, 224), sampler="centre"), mode="eval"
    )[0]
    assert sample["boxes"][0].tolist() == pytest.approx(
        [83 * 224 / 256, 10 * 224 / 256, 200 * 224 / 256, 180 * 224 / 256]
    )


def test_vggss_json_with_corrupt_entries(tmp_path):
    entries = [
        {"file": "zpWuikVorYg_000032", "class": "elk bugling", "bbox": [[0.403125, 0.253125, 0.6, 0.75]]},
        {
            "file": "ORaz32CQ29k_000130",
            "class": "coyote howling",
            "bbox": [[0.121875, 0.171875, 0.6, 0.853125], [0.765625, 0.275, 0.984375, 0.565625]],
        },
        {"file": "bad_entry__000010", "class": "elk bugling", "bbox": [[-2.9e16, -2.9e16, 0.5, 0.5]]},
        {
            "file": "degenerate_000001",
            "class": "coyote howling",
            "bbox": [[0.00625, 0.015625, 0.00625, 0.015625]],
        },
    ]
    (tmp_path / "vggss.json").write_text(json.dumps(entries))
    for e in entries:
        write_image(tmp_path / "frames" / f"{e['file']}.jpg", np.full((224, 224, 3), 50, np.uint8))
        write_wav(tmp_path / "audio" / f"{e['file']}.wav", np.zeros((1, 16000), np.float32), 16000)
    index = load_index("vggss", tmp_path)
    assert [i.id for i in index.items] == ["zpWuikVorYg_000032", "ORaz32CQ29k_000130", "degenerate_000001"]
    assert (
        len(index.problems) == 1
        and "absurd box coordinates" in index.problems[0]
        and "entry 3" in index.problems[0]
    )
    assert index.classes == ["coyote howling", "elk bugling"] and index.items[1].label == 0


@pytest.mark.parametrize(
    "header", ["name,start_time,category,split", "vid,uid,category,split", "video_name,x,y,split"]
)
def test_avsbench_s4_meta_csv_by_position_or_name(tmp_path, header):
    (tmp_path / "s4_meta_data.csv").write_text(
        f"{header}\n-0Ab_1,0,dog_barking,test\nzz9,0,dog_barking,train\n"
    )
    data = tmp_path / "s4_data"
    for split, name, masks in (("test", "-0Ab_1", 5), ("train", "zz9", 1)):
        rel = f"{split}/dog_barking/{name}"
        for k in range(1, 6):
            write_image(
                data / "visual_frames" / rel / f"{name}_{k}.png", np.full((224, 224, 3), 10 * k, np.uint8)
            )
            if k <= masks:
                mask = np.zeros((224, 224), np.uint8)
                mask[50:100, 60:120] = 255
                write_image(data / "gt_masks" / rel / f"{name}_{k}.png", mask)
        write_wav(
            data / "audio_wav" / split / "dog_barking" / f"{name}.wav",
            np.zeros((1, 80000), np.float32),
            16000,
        )
    test = load_index("avsbench-s4", tmp_path, "test")
    assert [i.id for i in test.items] == ["-0Ab_1"] and test.classes == ["dog_barking"]
    sample = ClipDataset(test.items, ClipSpec(duration_s=5.0, size=None), mode="eval")[0]
    assert sample["mask"].shape == (5, 224, 224) and int(sample["mask"][2].sum()) == 50 * 60
    train = load_index("avsbench-s4", tmp_path, "train")
    assert train.items[0].masks[1:] == [None] * 4


def test_fairplay_h5_with_foreign_absolute_paths(tmp_path):
    split = tmp_path / "splits" / "split1"
    split.mkdir(parents=True)
    foreign = [
        b"/private/home/rhgao/datasets/BINAURAL_MUSIC_ROOM/binaural16k/000001.wav",
        b"/private/home/rhgao/datasets/BINAURAL_MUSIC_ROOM/binaural16k/000002.wav",
    ]
    with h5py.File(split / "train.h5", "w") as f:
        f.create_dataset("audio", data=np.array(foreign, dtype=object), dtype=h5py.string_dtype())
    for name in ("000001", "000002"):
        _tiny_video(tmp_path / "videos" / f"{name}.mp4", 1.0)
        wave = np.stack([np.linspace(0, 0.5, 16000), np.linspace(0, -0.5, 16000)]).astype(np.float32)
        write_wav(tmp_path / "binaural_audios" / f"{name}.wav", wave, 16000)
    index = load_index("fairplay", tmp_path, "train")
    assert [i.id for i in index.items] == ["000001", "000002"]
    sample = ClipDataset(
        index.items, ClipSpec(duration_s=0.5, fps=4, size=(16, 16), channels=2), mode="eval"
    )[0]
    left, right = sample["audio"]
    assert sample["audio"].shape == (2, 8000) and float(left.mean()) > 0 > float(right.mean())
