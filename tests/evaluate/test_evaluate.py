"""The evaluation stage: CLUE-format task files, the grid and its selection, the report (unit tier), and real
fine-tuning of the tiny run's checkpoints on the inews task, alone and through the workflow (workflow tier)."""

import json

import pytest
import yaml

from conftest import run_snakemake
from ernie_pipeline.evaluate.grid import EvalSettings, GridPoint, select_best
from ernie_pipeline.evaluate.report import report_rows
from ernie_pipeline.corpus.tasks import TaskSettings, read_task
from ernie_pipeline.settings import schema_defaults


def _task(tmp_path, rows: dict[str, list], **settings) -> TaskSettings:
    """A task whose files (named as ``rows``' keys: train, dev, test -> file name) hold the given records."""
    paths = {}
    for split, (name, records) in rows.items():
        paths[split] = tmp_path / name
        paths[split].write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n"
                                        for r in records), encoding="utf-8")
    section = {"text_keys": ["sentence"], "label_key": "label", "labels": None, "max_seq_len": 64, "max_examples": 0,
               **{split: str(path) for split, path in paths.items()}, **settings}
    return TaskSettings.from_config("t", section)


@pytest.fixture(scope="module")
def inews_task_rows(inews_wheel, tmp_path_factory):
    """The inews task's records as the sample rule writes them (train, dev, test)."""
    from ernie_pipeline.corpus.sample import write_inews_task

    folder = tmp_path_factory.mktemp("inews_task")
    paths = {split: folder / f"{split}.json" for split in ("train", "dev", "test")}
    write_inews_task(inews_wheel, paths)
    return {split: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            for split, path in paths.items()}


def test_the_sample_task_is_inews_labelled_splits_and_none_of_it_is_pretrained_on(inews_wheel, inews_task_rows):
    from ernie_pipeline.corpus.sample import _inews_split, inews_pretraining_docs, read_inews

    assert {split: len(rows) for split, rows in inews_task_rows.items()} == {"train": 5355, "dev": 999, "test": 999}
    assert {r["label"] for r in inews_task_rows["test"]} == {0, 1, 2}
    assert {r["label_desc"] for r in inews_task_rows["dev"]} == {"positive", "neutral", "negative"}
    titles, contents, labels = _inews_split(inews_wheel, "test")
    assert [r["label"] for r in inews_task_rows["test"]] == list(labels)
    assert inews_task_rows["test"][5]["sentence"] == f"{titles[5].strip()}。{contents[5].strip()}"
    # the package repeats some articles across its splits: those are left out of the pretraining documents
    pretrained = {d["content"].strip() for d in inews_pretraining_docs(inews_wheel)}
    train = {d["content"].strip() for d in read_inews(inews_wheel, ("train",))}
    evaluated = {d["content"].strip() for d in read_inews(inews_wheel, ("dev", "test"))} - {""}
    assert len(evaluated & train) > 30 and not evaluated & pretrained and len(pretrained) > 5000


def test_single_sentence_and_pair_tasks_with_string_or_int_labels(tmp_path, inews_task_rows):
    docs = inews_task_rows["dev"][:9]
    single = [{"sentence": d["sentence"], "label": d["label"], "label_desc": d["label_desc"]} for d in docs]
    task = _task(tmp_path, {"train": ("train.json", single), "dev": ("dev.json", single[:3]),
                            "test": ("test.json", single[3:6])})
    labels, examples = read_task(task)
    assert labels == tuple(sorted({d["label"] for d in docs}))
    assert [e.label for e in examples["dev"]] == [labels.index(d["label"]) for d in docs[:3]]
    assert examples["train"][0].texts == (docs[0]["sentence"],)

    # AFQMC/OCNLI style: a pair with string labels; max_examples takes the first of each file
    pairs = [{"sentence1": d["sentence"][:20], "sentence2": d["sentence"][20:80], "label": d["label_desc"]}
             for d in docs]
    task = _task(tmp_path, {"train": ("p_train.json", pairs), "dev": ("p_dev.json", pairs[:4]),
                            "test": ("p_test.json", pairs)},
                 text_keys=["sentence1", "sentence2"], max_examples=5)
    labels, examples = read_task(task)
    assert labels == tuple(sorted({p["label"] for p in pairs[:5]}))
    assert len(examples["train"]) == len(examples["test"]) == 5 and len(examples["dev"]) == 4
    assert examples["test"][1].texts == (pairs[1]["sentence1"], pairs[1]["sentence2"])


def test_fewclue_layout_works_as_it_is(tmp_path, inews_task_rows):
    """FewCLUE's files (train_few_all.json, dev_few_all.json, test_public.json; EPRSTMT: sentence, label
    "Positive"/"Negative" strings, an id field) read as they are."""
    docs = inews_task_rows["train"][:12]
    rows = [{"id": k, "sentence": d["sentence"][:60], "label": "Positive" if d["label"] == 0 else "Negative"}
            for k, d in enumerate(docs)]
    task = _task(tmp_path, {"train": ("train_few_all.json", rows), "dev": ("dev_few_all.json", rows[:4]),
                            "test": ("test_public.json", rows[4:])}, labels=["Negative", "Positive"])
    labels, examples = read_task(task)
    assert labels == ("Negative", "Positive")
    assert [e.label for e in examples["test"]] == [int(r["label"] == "Positive") for r in rows[4:]]


@pytest.mark.parametrize("line, message", [
    ('{"sentence": "好", "label": 1', r"dev.json:2: not a JSON object"),
    ('["好", 1]', r"dev.json:2: not a JSON object"),
    ('{"text": "好", "label": 1}', r"dev.json:2: no text under 'sentence'"),
    ('{"sentence": "好"}', r"dev.json:2: unlabelled \(no string or integer under 'label'\)"),
    ('{"sentence": "好", "label": null}', r"dev.json:2: unlabelled"),
    ('{"sentence": "好", "label": 7}', r"dev.json:2: label 7 is not one of \[0, 1\]"),
])
def test_bad_task_lines_are_errors_naming_file_and_line(tmp_path, line, message):
    good = [{"sentence": "今天很好", "label": 0}, {"sentence": "今天很差", "label": 1}]
    task = _task(tmp_path, {"train": ("train.json", good), "dev": ("dev.json", [good[0], line]),
                            "test": ("test.json", good)})
    with pytest.raises(ValueError, match=message):
        read_task(task)


def test_encodings_a_byte_order_mark_and_label_types(tmp_path, inews_task_rows):
    """A GBK file is an error naming the file and line (not a bare UnicodeDecodeError); a UTF-8 byte-order mark is
    dropped, as the corpus readers drop it; labels configured as strings for a file of numbers are named as such."""
    rows = [{"sentence": d["sentence"][:40], "label": d["label"]} for d in inews_task_rows["dev"][:6]]
    task = _task(tmp_path, {"train": ("train.json", rows), "dev": ("dev.json", rows), "test": ("test.json", rows)})
    text = (tmp_path / "dev.json").read_text(encoding="utf-8")
    (tmp_path / "dev.json").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    labels, examples = read_task(task)
    assert [e.texts[0] for e in examples["dev"]] == [r["sentence"] for r in rows]
    (tmp_path / "dev.json").write_bytes(text.encode("gbk"))
    with pytest.raises(ValueError, match=r"dev.json:1: invalid UTF-8 at byte \d+ of the line: task files are UTF-8 "
                                         r"\(convert another encoding first, e.g. iconv -f GBK -t UTF-8\)"):
        read_task(task)
    (tmp_path / "dev.json").write_text(text, encoding="utf-8")
    strings = _task(tmp_path, {"train": ("train.json", rows), "dev": ("dev.json", rows), "test": ("test.json", rows)},
                    labels=["0", "1", "2"])
    with pytest.raises(ValueError, match=r"train.json:1: label \d is not one of \['0', '1', '2'\]: the file gives a "
                                         r"number, the task's labels \(config eval.tasks ... labels\) are strings; write "
                                         r"them as the file does \(\[0, 1, 2\]\)"):
        read_task(strings)


def _settings(**changes) -> EvalSettings:
    section = {**schema_defaults("eval"), "tasks": {}, **changes}
    return EvalSettings.from_config(section)


def test_the_grid_and_which_checkpoints():
    settings = _settings(learning_rates=[3e-5, 1e-4], batch_sizes=[16], epochs=[2, 3], seeds=[1, 2])
    assert [p.name for p in settings.points()][:3] == ["lr3e-05_bs16_ep2_seed1", "lr3e-05_bs16_ep2_seed2",
                                                       "lr3e-05_bs16_ep3_seed1"]
    assert len(settings.points()) == 8 and settings.point("lr0.0001_bs16_ep3_seed2") == GridPoint(1e-4, 16, 3, 2)
    assert settings.checkpoint_steps([100, 200, 300]) == [0, 100, 200, 300]
    assert _settings(checkpoints=[300, 100]).checkpoint_steps([100, 200, 300]) == [0, 100, 300]
    assert _settings(checkpoints="last").checkpoint_steps([100, 200, 300]) == [0, 300]
    with pytest.raises(ValueError, match=r"config eval.checkpoints: \[150\] are not checkpoints of the chain"):
        _settings(checkpoints=[150]).checkpoint_steps([100, 200, 300])
    # upstream's CLUE grid is the default
    assert (settings.__class__.from_config({**schema_defaults("eval"), "tasks": {}}).learning_rates ==
            (1e-5, 2e-5, 3e-5, 5e-5))


def test_selection_takes_the_best_dev_mean_over_seeds():
    def result(lr, seed, dev, test):
        return {"point": GridPoint(lr, 32, 3, seed).__dict__, "dev": {"accuracy": dev, "macro_f1": dev / 2},
                "test": {"accuracy": test, "macro_f1": test / 2}}

    # lr 1e-4 has the single best run (0.9) but the lower mean (0.6); 3e-5 wins on the mean (0.75)
    results = [result(1e-4, 1, 0.9, 0.5), result(1e-4, 2, 0.3, 0.5), result(3e-5, 1, 0.7, 0.8),
               result(3e-5, 2, 0.8, 0.6)]
    selection = select_best(results, "accuracy")
    assert selection["best"]["learning_rate"] == 3e-5 and selection["best"]["seeds"] == [1, 2]
    assert selection["best"]["dev"]["accuracy"] == pytest.approx(0.75)
    assert selection["best"]["test"]["accuracy"] == pytest.approx(0.7)
    assert len(selection["configurations"]) == 2
    # ties: the first configuration in grid order
    assert select_best([result(1e-4, 1, 0.5, 0.1), result(3e-5, 1, 0.5, 0.9)], "accuracy")["best"]["learning_rate"] == 1e-4


def test_the_report_puts_every_checkpoint_beside_model_0_and_the_majority_class():
    """Each checkpoint's dev-best scores beside model_0's, the majority-class accuracy of the test split, the
    spread over seeds, and a note where seeds ended predicting a single class (no measure of the checkpoint)."""
    from ernie_pipeline.evaluate.report import markdown

    def selection(test, one_class=0):
        return {"best": {"learning_rate": 1e-4, "batch_size": 32, "epochs": 3, "seeds": [1, 2],
                         "dev": {"accuracy": test + 0.01, "macro_f1": 0.5}, "test": {"accuracy": test, "macro_f1": 0.4},
                         "sd": {"dev": {"accuracy": 0.01, "macro_f1": 0.0}, "test": {"accuracy": 0.02, "macro_f1": 0.0}},
                         "majority_test_accuracy": 0.49, "one_class_seeds": one_class}}

    rows = report_rows({"inews": {300: selection(0.49, one_class=2), 0: selection(0.6), 100: selection(0.65)}})
    assert [r["step"] for r in rows] == [0, 100, 300]
    assert [round(r["test_accuracy_gain"], 6) for r in rows] == [0.0, 0.05, -0.11]
    assert all(r["baseline_test_accuracy"] == 0.6 and r["majority_test_accuracy"] == 0.49 for r in rows)
    table = markdown(rows)
    assert "| inews | model_300 | 0.0001 | 32 | 3 | 2 | 0.5000 | 0.5000 | 0.4900 ± 0.0200 (one class in 2 of 2 seeds) | " \
           "0.4000 | -0.1100 | 0.4900 |" in table
    assert "- inews model_300: in 2 of 2 seeds the fine-tuned model predicts one class" in table
    assert "model_100: in" not in table
    best = select_best([{"point": GridPoint(1e-4, 32, 3, seed).__dict__, "dev": {"accuracy": dev, "macro_f1": 0.1},
                         "test": {"accuracy": dev, "macro_f1": 0.1}, "majority_test_accuracy": 0.49,
                         "predicted_classes": {"dev": classes, "test": classes}}
                        for seed, dev, classes in ((1, 0.5, 1), (2, 0.7, 3))], "accuracy")["best"]
    assert best["one_class_seeds"] == 1 and best["sd"]["test"]["accuracy"] == pytest.approx(0.1)


# ---- fine-tuning for real (the tiny run's checkpoints) ----

def _eval_config(workdir, config: dict, inews_task_rows, **grid) -> dict:
    """``config`` with an inews task of ``max_examples`` examples per split (files written into workdir)."""
    folder = workdir / "task"
    folder.mkdir(exist_ok=True)
    for split, rows in inews_task_rows.items():
        (folder / f"{split}.json").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                              encoding="utf-8")
    task = {"train": str(folder / "train.json"), "dev": str(folder / "dev.json"), "test": str(folder / "test.json"),
            "max_seq_len": 128, "max_examples": grid.pop("max_examples", 200)}
    return {**config, "eval": {"tasks": {"inews": task}, "checkpoints": [6], "learning_rates": [1e-3],
                               "batch_sizes": [32], "epochs": [1], "seeds": [1], "threads": 2, **grid}}


def _finetune(artifacts, tmp_path, inews_task_rows, checkpoint="model_6", **grid) -> dict:
    from ernie_pipeline.evaluate.finetune import finetune
    from ernie_pipeline.settings import validated

    config = validated(_eval_config(tmp_path, artifacts["config"], inews_task_rows, **grid))
    settings = EvalSettings.from_config(config["eval"])
    return finetune(str(artifacts["pretrain"] / checkpoint), settings.tasks["inews"], settings.points()[0], settings)


def test_encoding_from_prefixes_gives_the_whole_texts_ids(artifacts, inews_task_rows):
    """Examples are tokenised from prefixes ending at a CJK character (a token of its own): the same ids as the
    tokenizer gives the whole text, truncated, for single sentences and pairs (whichever side is longer), short
    limits and long ones, and texts with no CJK character (English) or one only at the end."""
    from paddlenlp.transformers import ErnieTokenizer

    from ernie_pipeline.evaluate.finetune import encode
    from ernie_pipeline.corpus.tasks import Example

    tokenizer = ErnieTokenizer.from_pretrained(str(artifacts["vocab_dir"]))
    texts = [r["sentence"] for r in inews_task_rows["dev"][:120]]
    english = "The quick brown fox jumps over the lazy dog, again and again. " * 40
    examples = ([Example((t,), 0) for t in texts] + [Example((english,), 0), Example((english + "好",), 0)]
                + [Example((t[:400], t[400:]), 1) for t in texts[:60]] + [Example((t[:40], t[40:]), 1) for t in texts[60:]]
                + [Example((english, texts[0]), 0), Example((texts[1], english), 0)])
    for max_seq_len in (16, 128, 512):
        whole = [tokenizer(e.texts[0], text_pair=e.texts[1] if len(e.texts) > 1 else None, max_length=max_seq_len,
                           truncation=True) for e in examples]
        assert encode(tokenizer, examples, max_seq_len) == [(f["input_ids"], f["token_type_ids"], e.label)
                                                           for f, e in zip(whole, examples)]
    assert max(len(t) for t in texts) > 4 * 512  # the prefixes are cut


def test_fine_tuning_a_pretrained_checkpoint_beats_the_majority_class(artifacts, tmp_path, inews_task_rows):
    """1,000 inews examples, 4 epochs from the tiny run's model_6: dev accuracy well above always answering
    the most frequent class (about 0.49)."""
    result = _finetune(artifacts, tmp_path, inews_task_rows, max_examples=1000, epochs=[4])
    assert result["examples"] == {"train": 1000, "dev": 999, "test": 999}
    assert [row["epoch"] for row in result["dev_curve"]] == [1, 2, 3, 4]
    assert result["dev"]["accuracy"] > result["majority_dev_accuracy"] + 0.1, result["dev_curve"]
    assert result["test"]["accuracy"] > 0.55 and result["dev"]["macro_f1"] > 0.4


def test_fine_tuning_reruns_bit_for_bit(artifacts, tmp_path, inews_task_rows):
    first = _finetune(artifacts, tmp_path, inews_task_rows)
    second = _finetune(artifacts, tmp_path, inews_task_rows)
    for result in (first, second):
        result.pop("train_examples_per_second")
    assert first == second
    other_seed = _finetune(artifacts, tmp_path, inews_task_rows, seeds=[2])
    assert other_seed["dev_curve"][0]["loss"] != first["dev_curve"][0]["loss"]


def test_the_grid_in_the_workflow_plans_only_what_changed(artifacts, tmp_path, inews_task_rows):
    """Fine-tuning model_0 and model_6 on a slice of inews through the workflow: the report puts model_6
    beside model_0; a new learning rate plans only its points (and the selections and report), a new
    checkpoint only its own jobs."""
    import shutil

    from plans import planned_jobs

    workdir = tmp_path / "w"
    shutil.copytree(artifacts["workdir"], workdir, symlinks=True)
    config = _eval_config(workdir, yaml.safe_load((workdir / "config.yaml").read_text()), inews_task_rows)
    # a new task's dev/test text would also be kept out of the corpus, retraining the chain (tests/clean)
    config["clean"] = {**config.get("clean", {}), "decontaminate": False}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    assert planned_jobs(workdir) == {"finetune": 2, "select_best": 2, "eval_report": 1}
    run_snakemake(workdir, "all")
    results = workdir / "results/eval"
    rows = (results / "report.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:3] == ["task", "step", "learning_rate"] and [r.split("\t")[1] for r in rows[1:]] == ["0", "6"]
    assert "| inews | model_6 |" in (results / "report.md").read_text()
    assert (results / "inews.png").read_bytes()[:4] == b"\x89PNG"
    point = json.loads((results / "inews/model_6/lr0.001_bs32_ep1_seed1.json").read_text())
    assert point["examples"]["train"] == 200 and point["step"] == 6 and point["task"] == "inews"
    assert planned_jobs(workdir) == {}

    def plan(**eval_changes):
        changed = {**config, "eval": {**config["eval"], **eval_changes}}
        (workdir / "changed.yaml").write_text(yaml.safe_dump(changed, allow_unicode=True))
        return planned_jobs(workdir, "--configfile", str(workdir / "changed.yaml"))

    assert plan(learning_rates=[1e-3, 3e-4]) == {"finetune": 2, "select_best": 2, "eval_report": 1}
    assert plan(checkpoints=[3, 6]) == {"finetune": 1, "select_best": 1, "eval_report": 1}
    assert plan(metric="macro_f1") == {"select_best": 2, "eval_report": 1}
    assert plan(threads=1) == {}  # how a job runs is no param
