"""UCF101, HMDB51, Kinetics and Diving48 read from fixtures written by hand in the releases' formats (split
files as released: CRLF lists, 1-based UCF labels, HMDB 0/1/2 marks with trailing spaces, Kinetics csv
headers, Diving48 json), real encoded media (mpeg4 .avi, h264 .mp4), and their bad-input paths."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avssl.cli import main
from avssl.data.annotations import AnnotationError
from avssl.data.check import check_dataset
from avssl.data.datasets import load_index
from avssl.data.datasets.base import BadItem, ClipDataset, ClipSpec, collate
from avssl.data.decoding import MediaError
from avssl.data.media_writer import VideoEncoding, write_video

AVI = VideoEncoding(codec="mpeg4", gop=8, bframes=0)
SPEC = ClipSpec(duration_s=0.5, fps=8, size=(16, 16))


def _video(path, shade=100, encoding=VideoEncoding(gop=8)):
    frames = [np.full((24, 32, 3), (shade + 5 * i) % 256, np.uint8) for i in range(8)]
    write_video(path, frames, 8, encoding=encoding)


UCF_CLASSES = ("ApplyEyeMakeup", "HandstandPushups", "YoYo")


@pytest.fixture
def ucf(tmp_path):
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_bytes(
        "".join(f"{k} {c}\r\n" for k, c in enumerate(UCF_CLASSES, start=1)).encode()
    )
    for k, cls in enumerate(UCF_CLASSES):
        # the release names HandstandPushups' files v_HandStandPushups_…
        stem = "HandStandPushups" if cls == "HandstandPushups" else cls
        for g in (1, 2, 3, 4):
            _video(tmp_path / "UCF-101" / cls / f"v_{stem}_g{g:02d}_c01.avi", 40 * k + g, AVI)
    for split in (1, 2, 3):  # split k tests group k (the release: groups 1-7, 8-14, 15-21)
        train, test = [], []
        for k, cls in enumerate(UCF_CLASSES, start=1):
            stem = "HandStandPushups" if cls == "HandstandPushups" else cls
            for g in (1, 2, 3, 4):
                rel = f"{cls}/v_{stem}_g{g:02d}_c01.avi"
                (test.append(rel) if g == split else train.append(f"{rel} {k}"))
        (lists / f"trainlist{split:02d}.txt").write_bytes("\r\n".join(train).encode() + b"\r\n")
        (lists / f"testlist{split:02d}.txt").write_bytes("\r\n".join(test).encode() + b"\r\n")
    return tmp_path


def test_ucf101_official_splits(ucf):
    train = load_index("ucf101", ucf, "train")
    test = load_index("ucf101", ucf, "test")
    assert train.classes == list(UCF_CLASSES) and not train.problems and not test.problems
    assert len(train.items) == 9 and len(test.items) == 3
    assert {i.id for i in test.items} == {
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01",
        "HandstandPushups/v_HandStandPushups_g01_c01",
        "YoYo/v_YoYo_g01_c01",
    }
    assert all(i.meta["split"] == "test" for i in test.items)
    assert [i.label for i in test.items] == [0, 1, 2]  # 0-based, from classInd's 1-based indices
    assert not {i.id for i in train.items} & {i.id for i in test.items}
    test2 = load_index("ucf101", ucf, "test", split_index=2)
    assert {i.id.split("_g")[1] for i in test2.items} == {"02_c01"}
    assert len(load_index("ucf101", ucf, None).items) == 12  # every video of the three splits once
    sample = ClipDataset(test.items, SPEC, mode="eval")[1]
    assert sample["video"].shape == (4, 3, 16, 16) and sample["label"] == 1
    assert "audio" not in sample  # video-only layout
    batch = collate([ClipDataset(test.items, SPEC, mode="eval")[k] for k in range(3)])
    assert batch["video"].shape == (3, 4, 3, 16, 16) and batch["label"].tolist() == [0, 1, 2]


def test_ucf101_case_mismatch_and_check_data(ucf, capsys):
    lists = ucf / "ucfTrainTestlist"
    text = (lists / "testlist01.txt").read_text().replace("YoYo/v_YoYo", "yoyo/v_YOYO")
    (lists / "testlist01.txt").write_text(text)
    test = load_index("ucf101", ucf, "test")
    assert len(test.items) == 3 and test.items[2].path.endswith("YoYo/v_YoYo_g01_c01.avi")
    report = check_dataset(ucf, "ucf101")
    assert report["ok"] and report["items"] == 12, report
    assert main(["check-data", str(ucf), "--layout", "ucf101"]) == 0
    assert "no problems" in capsys.readouterr().out


def test_ucf101_bad_inputs(ucf):
    (ucf / "ucfTrainTestlist" / "trainlist02.txt").unlink()
    with pytest.raises(AnnotationError, match="trainlist02.txt"):
        load_index("ucf101", ucf, "train", split_index=2)
    report = check_dataset(ucf, "ucf101")  # every split is checked: the missing list is named
    assert not report["ok"] and "trainlist02.txt" in report["problems"]["index"][0]
    with pytest.raises(ValueError, match="split_index"):
        load_index("ucf101", ucf, "train", split_index=4)
    missing = ucf / "UCF-101" / "YoYo" / "v_YoYo_g02_c01.avi"
    missing.unlink()
    train = load_index("ucf101", ucf, "train")
    assert len(train.items) == 8 and len(train.problems) == 1
    assert "trainlist01.txt: line" in train.problems[0] and str(missing) in train.problems[0]
    (ucf / "ucfTrainTestlist" / "testlist01.txt").write_text("YoYo/v_YoYo_g01_c01.avi 3 extra\n")
    with pytest.raises(AnnotationError, match=r"testlist01.txt.*line 1"):
        load_index("ucf101", ucf, "test")
    (ucf / "ucfTrainTestlist" / "trainlist03.txt").write_text("YoYo/v_YoYo_g01_c01.avi 1\n")
    with pytest.raises(AnnotationError, match=r"trainlist03.txt.*not the index of class 'YoYo'"):
        load_index("ucf101", ucf, "train", split_index=3)


def test_unreadable_clip_is_named_by_check_data_and_skipped_in_training(ucf):
    bad = ucf / "UCF-101" / "YoYo" / "v_YoYo_g03_c01.avi"
    bad.write_bytes(b"RIFF\x00\x00not an avi at all" * 10)
    report = check_dataset(ucf, "ucf101")
    assert (
        report["counts"] == {"undecodable media": 1}
        and str(bad) in report["problems"]["undecodable media"][0]
    )
    train = load_index("ucf101", ucf, "train")
    index = next(k for k, i in enumerate(train.items) if i.path == str(bad))
    dataset = ClipDataset(train.items, SPEC, mode="train")
    sample = dataset[index]
    assert not isinstance(sample, BadItem)  # a readable stand-in, the bad item carried along
    batch = collate([sample, dataset[0]])
    assert [b.path for b in batch["bad_items"]] == [str(bad)] and batch["video"].shape[0] == 2
    with pytest.raises(MediaError, match="v_YoYo_g03_c01.avi"):
        ClipDataset(train.items, SPEC, mode="eval")[index]


@pytest.fixture
def hmdb(tmp_path):
    lists = tmp_path / "testTrainMulti_7030_splits"
    lists.mkdir()
    names = {
        c: [f"{c}_video_{v}_u_nm_np1_fr_med_{v}.avi" for v in range(5)] for c in ("brush_hair", "cartwheel")
    }
    for c, videos in names.items():
        for v, name in enumerate(videos):
            _video(tmp_path / c / name, 30 * v, AVI)
        for split in (1, 2, 3):
            # video (split - 1) is the test video, video 4 is unused (0), the rest train; trailing spaces
            marks = ["2" if v == split - 1 else "0" if v == 4 else "1" for v in range(5)]
            text = "".join(f"{n} {m} \n" for n, m in zip(videos, marks))
            (lists / f"{c}_test_split{split}.txt").write_text(text)
    return tmp_path


def test_hmdb51_marks_and_splits(hmdb):
    train = load_index("hmdb51", hmdb, "train")
    test = load_index("hmdb51", hmdb, "test")
    assert train.classes == ["brush_hair", "cartwheel"]
    assert len(train.items) == 6 and len(test.items) == 2
    assert [i.id for i in test.items] == [
        "brush_hair/brush_hair_video_0_u_nm_np1_fr_med_0",
        "cartwheel/cartwheel_video_0_u_nm_np1_fr_med_0",
    ]
    assert [i.label for i in test.items] == [0, 1]
    assert not any("video_4" in i.id for i in train.items + test.items)  # mark 0: in neither
    test3 = load_index("hmdb51", hmdb, "test", split_index=3)
    assert all("video_2" in i.id for i in test3.items)
    assert check_dataset(hmdb, "hmdb51")["ok"]
    sample = ClipDataset(test.items, SPEC, mode="eval")[0]
    assert sample["video"].shape == (4, 3, 16, 16) and "audio" not in sample


def test_hmdb51_bad_inputs(hmdb):
    lists = hmdb / "testTrainMulti_7030_splits"
    (lists / "cartwheel_test_split2.txt").unlink()
    with pytest.raises(AnnotationError, match="cartwheel_test_split2.txt"):
        load_index("hmdb51", hmdb, "train", split_index=2)
    (hmdb / "brush_hair" / "brush_hair_video_1_u_nm_np1_fr_med_1.avi").unlink()
    train = load_index("hmdb51", hmdb, "train")
    assert len(train.problems) == 1 and "brush_hair_test_split1.txt: line 2" in train.problems[0]
    (lists / "brush_hair_test_split1.txt").write_text("x.avi 3\n")
    with pytest.raises(AnnotationError, match=r"brush_hair_test_split1.txt.*line 1"):
        load_index("hmdb51", hmdb, "train")


KINETICS_HEADER = "label,youtube_id,time_start,time_end,split\n"


@pytest.fixture
def kinetics(tmp_path):
    (tmp_path / "train.csv").write_text(
        KINETICS_HEADER
        + "abseiling,-3B32lodo2M,59,69,train\n"
        + '"passing American football (in game)",--6bJUbfpnQ,17,27,train\n'
        + "air drumming,--nQbRBEz2s,104,114,train\n"
    )
    (tmp_path / "validate.csv").write_text(KINETICS_HEADER + "abseiling,0wR5jVB-WPk,417,427,val\n")
    _video(tmp_path / "train" / "abseiling" / "-3B32lodo2M_000059_000069.mp4")
    _video(tmp_path / "train" / "passing American football (in game)" / "--6bJUbfpnQ_000017_000027.mp4")
    _video(tmp_path / "train" / "air_drumming" / "--nQbRBEz2s_000104_000114.mp4")  # spaces as underscores
    _video(tmp_path / "val" / "abseiling" / "0wR5jVB-WPk_000417_000427.mp4")
    return tmp_path


def test_kinetics_csv_and_folders(kinetics):
    train = load_index("kinetics", kinetics, "train")
    assert train.classes == ["abseiling", "air drumming", "passing American football (in game)"]
    assert [i.id for i in train.items] == [
        "-3B32lodo2M_000059_000069",
        "--6bJUbfpnQ_000017_000027",
        "--nQbRBEz2s_000104_000114",
    ]
    assert [i.label for i in train.items] == [0, 2, 1] and not train.problems
    val = load_index("kinetics", kinetics, "validate")
    assert [i.meta["split"] for i in val.items] == ["val"] and val.items[0].label == 0
    assert check_dataset(kinetics, "kinetics")["ok"]
    with pytest.raises(AnnotationError, match="test.csv"):
        load_index("kinetics", kinetics, "test")
    with pytest.raises(ValueError, match="split_index"):
        load_index("kinetics", kinetics, "train", split_index=2)
    (kinetics / "val" / "abseiling" / "0wR5jVB-WPk_000417_000427.mp4").unlink()
    val = load_index("kinetics", kinetics, "val")
    assert not val.items and "validate.csv: row 2" in val.problems[0]
    (kinetics / "train.csv").write_text("youtube_id,label\nabc,x\n")
    with pytest.raises(AnnotationError, match=r"train.csv.*time_start"):
        load_index("kinetics", kinetics, "train")


def test_diving48_json(tmp_path):
    train = [
        {"vid_name": "-mmq0PT-u8k_00155", "label": 0, "start_frame": 0, "end_frame": 75},
        {"vid_name": "-mmq0PT-u8k_00156", "label": 2, "start_frame": 0, "end_frame": 82},
    ]
    test = [{"vid_name": "_8Vy3dlHg2w_00000", "label": 1, "start_frame": 0, "end_frame": 41}]
    (tmp_path / "Diving48_V2_train.json").write_text(json.dumps(train))
    (tmp_path / "Diving48_V2_test.json").write_text(json.dumps(test))
    vocab = [
        ["Back", "15som", "05Twis", "FREE"],
        ["Back", "15som", "15Twis", "FREE"],
        ["Back", "15som", "NoTwis", "PIKE"],
    ]
    (tmp_path / "Diving48_vocab.json").write_text(json.dumps(vocab))
    for entry in train + test:
        _video(tmp_path / "rgb" / f"{entry['vid_name']}.mp4")
    index = load_index("diving48", tmp_path, "train")
    assert [i.label for i in index.items] == [0, 2] and index.classes[2] == "Back / 15som / NoTwis / PIKE"
    assert index.items[1].meta["end_frame"] == 82
    assert [i.id for i in load_index("diving48", tmp_path, "test").items] == ["_8Vy3dlHg2w_00000"]
    assert check_dataset(tmp_path, "diving48")["ok"]
    (tmp_path / "rgb" / "-mmq0PT-u8k_00155.mp4").unlink()
    index = load_index("diving48", tmp_path, "train")
    assert len(index.items) == 1 and "Diving48_V2_train.json: entry 0" in index.problems[0]
    (tmp_path / "Diving48_V2_test.json").unlink()
    with pytest.raises(AnnotationError, match="Diving48_V2_test.json"):
        load_index("diving48", tmp_path, "test")
