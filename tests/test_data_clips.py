"""Audio-video (CREMA-D, AVE, Kinetics-Sounds) and text-video (MELD, raw MOSI) preparation:
released layouts in miniature, fbank + frames, 3 frames random in training / uniform at test."""
import numpy as np
import pytest
import torch

from data_fixtures import write_csv, write_video, write_wav  # PyAV writes the fixtures: it is in the test extra
from rmm_lib.data import load_splits
from rmm_lib.data.media import MediaError
from rmm_lib.data.sources import ave, cmu_raw, cremad, kinetics_sounds, meld
from rmm_lib.data.sources.common import PrepareError


def _cremad(src, clips):
    for clip in clips:
        write_wav(src / "AudioWAV" / f"{clip}.wav", freq=200 + 50 * len(clip))
        write_video(src / "VideoFlash" / f"{clip}.flv", fmt="flv", codec="flv")


def test_cremad_prepares_fbank_and_frames(tmp_path):
    src = tmp_path / "cremad" / "raw"
    clips = [f"10{a:02d}_DFA_{e}_XX" for a in range(2) for e in ("ANG", "HAP", "SAD")]
    _cremad(src, clips)
    write_csv(tmp_path / "lists" / "train.csv", [[c, c.split("_")[2]] for c in clips[:4]])
    write_csv(tmp_path / "lists" / "test.csv", [[c, c.split("_")[2]] for c in clips[4:]])
    cremad.prepare(tmp_path, split_dir=tmp_path / "lists", val_fraction=0.34, stored_frames=6)
    splits = load_splits("cremad", tmp_path)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [3, 1, 2]  # stratified: one of the two ANG clips
    test = splits["test"]
    batch = test[[0, 1]]
    assert batch.inputs["audio"].shape == (2, 1024, 128) and batch.inputs["video"].shape == (2, 3, 3, 224, 224)
    assert test.meta["class_names"][test.label[0]] == test.names[0].split("_")[2]
    # the fbank is AST's: padded with zeros past the 0.4 s clip (40 frames at a 10 ms hop)
    audio = batch.inputs["audio"][0]
    assert audio[:38].std() > 0.1 and torch.allclose(audio[60:], audio[60:61].expand_as(audio[60:]))
    assert not torch.allclose(audio[5], audio[60])
    # uniform at test: stored frames 0, 2, 5 of 6 (fixture frame k has pixel 20k)
    raw = load_splits("cremad", tmp_path, normalize=False)["test"][[0]].inputs["video"][0, :, 0, 100, 100] * 255
    assert torch.allclose(raw, torch.tensor([0.0, 40.0, 100.0]), atol=8)
    # random in training: several reads of one clip draw different frame sets
    train = load_splits("cremad", tmp_path, normalize=False)["train"]
    draws = {tuple((train[[0]].inputs["video"][0, :, 0, 100, 100] * 255).round().tolist()) for _ in range(8)}
    assert len(draws) > 1
    five = load_splits("cremad", tmp_path, n_frames=5)["test"]
    assert five.inputs["video"].shape == (2, 5, 3, 224, 224) and five[[1]].inputs["video"].shape == (1, 5, 3, 224, 224)
    with pytest.raises(ValueError, match="n_frames"):
        load_splits("cremad", tmp_path, n_frames=0)


def test_cremad_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="AudioWAV.*\n.*Download: AudioWAV"):
        cremad.prepare(tmp_path)
    src = tmp_path / "cremad" / "raw"
    _cremad(src, ["1001_DFA_ANG_XX"])
    write_wav(src / "AudioWAV" / "1001_DFA_XYZ_XX.wav")
    with pytest.raises(PrepareError, match="EMOTION in"):
        cremad.prepare(tmp_path)
    (src / "AudioWAV" / "1001_DFA_XYZ_XX.wav").unlink()
    write_wav(src / "AudioWAV" / "1002_DFA_HAP_XX.wav")
    with pytest.raises(FileNotFoundError, match="VideoFlash/1002_DFA_HAP_XX.flv"):
        cremad.prepare(tmp_path)


def test_truncated_media_are_refused(tmp_path):
    from rmm_lib.data.media import read_audio, read_frames

    write_video(tmp_path / "a.mp4", audio=True)
    data = (tmp_path / "a.mp4").read_bytes()
    (tmp_path / "b.mp4").write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError, match="truncated or corrupted"):
        read_frames(tmp_path / "b.mp4", 3)
    write_wav(tmp_path / "c.wav")
    (tmp_path / "d.wav").write_bytes((tmp_path / "c.wav").read_bytes()[:20])
    with pytest.raises(MediaError, match="truncated or corrupted"):
        read_audio(tmp_path / "d.wav")
    assert read_audio(tmp_path / "a.mp4").shape[0] > 15000  # 1 s of aac audio, resampled to 16 kHz mono


def test_ave_release_layout(tmp_path):
    src = tmp_path / "ave" / "raw" / "AVE_Dataset"
    cats = [f"Event{i:02d}" for i in range(28)]
    header = "Category&VideoID&Quality&StartTime&EndTime"
    (src / "AVE").mkdir(parents=True)
    lines = {s: [f"{cats[i]}&{s}{i}&good&0&10" for i in range(2)] for s in ("train", "val", "test")}
    (src / "Annotations.txt").write_text("\n".join([header] + [f"{c}&x{i}&good&0&10" for i, c in enumerate(cats)]) + "\n")
    for s, fname in ave.FILES.items():
        (src / fname).write_text("\n".join([header] + lines[s]) + "\n")
        for line in lines[s]:
            write_video(src / "AVE" / f"{line.split('&')[1]}.mp4", audio=True)
    (src / "testSet.txt").write_text("\n".join(lines["test"]) + "\n")  # a list without its header line
    ave.prepare(tmp_path, stored_frames=4)
    splits = load_splits("ave", tmp_path)
    assert splits["val"].label.tolist() == [0, 1] and len(splits["val"].meta["class_names"]) == 28
    assert splits["test"].names == ["test0", "test1"]
    assert splits["val"][[1]].inputs["audio"].shape == (1, 1024, 128)
    (src / "valSet.txt").write_text(header + "\nNoSuchEvent&v0&good&0&10\n")
    with pytest.raises(PrepareError, match="not in Annotations.txt"):
        ave.prepare(tmp_path)
    (src / "valSet.txt").write_text(header + "\nEvent00&v0&good\n")
    with pytest.raises(PrepareError, match="expected Category&VideoID"):
        ave.prepare(tmp_path)


def test_kinetics_sounds_lists(tmp_path):
    src = tmp_path / "kinetics_sounds" / "raw"
    rows = {"train": [["c0", "playing drums"], ["c1", "playing drums"], ["c2", "dog barking"], ["c3", "dog barking"]],
            "test": [["t0", "dog barking"]]}
    for s, r in rows.items():
        write_csv(src / f"{s}.csv", r)
        for clip, _ in r:
            write_video(src / "videos" / f"{clip}.mp4", audio=True)
    kinetics_sounds.prepare(tmp_path, val_fraction=0.5, stored_frames=3)
    splits = load_splits("kinetics_sounds", tmp_path)
    assert splits["test"].meta["class_names"] == ["dog barking", "playing drums"] and splits["test"].label.tolist() == [0]
    assert len(splits["train"]) == 2 and len(splits["val"]) == 2
    write_csv(src / "test.csv", [["t0", "juggling"]])
    with pytest.raises(PrepareError, match="never occurs in train.csv"):
        kinetics_sounds.prepare(tmp_path)


def test_meld_text_video_and_both_targets(tmp_path):
    src = tmp_path / "meld" / "raw" / "MELD.Raw"
    header = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID", "Season",
              "Episode", "StartTime", "EndTime"]
    emotions = [("joy", "positive"), ("anger", "negative"), ("neutral", "neutral")]
    for split, (csv_name, folder) in meld.SPLITS.items():
        rows = [[i + 1, f"{split} line {i}", "Ross", e, s, 0, i, 1, 1, "0", "1"] for i, (e, s) in enumerate(emotions)]
        write_csv(src / csv_name, rows, header)
        for i in range(len(rows)):
            write_video(src / folder / f"dia0_utt{i}.mp4")
    (src / "train_splits" / "dia0_utt2.mp4").unlink()
    with pytest.raises(FileNotFoundError, match="dia0_utt2.mp4 is missing.*--missing-video skip"):
        meld.prepare(tmp_path)
    meld.prepare(tmp_path, missing_video="skip", stored_frames=4)
    splits = load_splits("meld", tmp_path)
    assert len(splits["train"]) == 2 and len(splits["test"]) == 3
    test = splits["test"]
    assert test.label.tolist() == [4, 6, 0] and test.strings["text"][1] == "test line 1"
    assert test[[0]].inputs["text"].dtype == torch.long and test[[0]].inputs["video"].shape == (1, 3, 3, 224, 224)
    sentiment = load_splits("meld", tmp_path, target="sentiment")["test"]
    assert sentiment.label.tolist() == [2, 0, 1] and sentiment.meta["class_names"][2] == "positive"
    rows = [[1, "x", "Ross", "elation", "positive", 0, 0, 1, 1, "0", "1"]]
    write_csv(src / "dev_sent_emo.csv", rows, header)
    with pytest.raises(PrepareError, match="emotion 'elation'"):
        meld.prepare(tmp_path, missing_video="skip")


def test_cmu_raw_text_and_frames(tmp_path):
    src = tmp_path / "mosi_raw" / "raw"
    header = ["video_id", "clip_id", "text", "label", "label_T", "label_A", "label_V", "annotation", "mode"]
    rows = [["v1", "1", "it was great", "2.4", "", "", "", "Positive", "train"],
            ["v1", "2", "meh", "0.0", "", "", "", "Neutral", "valid"],
            ["v2", "1", "awful", "-1.8", "", "", "", "Negative", "test"]]
    write_csv(src / "label.csv", rows, header)
    for r in rows:
        write_video(src / "Raw" / r[0] / f"{r[1]}.mp4")
    cmu_raw.prepare("mosi_raw", tmp_path, stored_frames=4)
    splits = load_splits("mosi_raw", tmp_path)
    assert splits["train"].label.tolist() == [2] and splits["val"].label.tolist() == [1] and splits["test"].label.tolist() == [0]
    assert np.isclose(float(splits["test"].score[0]), -1.8) and splits["test"].strings["text"] == ["awful"]
    write_csv(src / "label.csv", [rows[0][:3] + ["4.5"] + rows[0][4:]], header)
    with pytest.raises(PrepareError, match=r"leaves \[-3, 3\]"):
        cmu_raw.prepare("mosi_raw", tmp_path)
