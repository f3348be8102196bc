"""palabre nlu-eval: the command a bot author uses to measure the classifier."""
import json

import pytest


def test_help_lists_and_explains_commands(palabre):
    top = palabre("--help", check_rc=0).stdout
    assert "nlu-eval" in top
    detail = palabre("nlu-eval", "--help", check_rc=0).stdout
    for option in ("--train", "--test", "--cv", "--json", "--threshold", "--seed"):
        assert option in detail
    assert palabre("help", "nlu-eval", check_rc=0).stdout == detail
    assert "palabre" in palabre("--version", check_rc=0).stdout


def test_unknown_command_and_bad_usage(palabre):
    assert palabre("frobnicate").returncode == 2
    assert palabre().returncode == 2
    assert palabre("nlu-eval").returncode == 2
    assert palabre("nlu-eval", "--cv", "1", "x.tsv").returncode == 2
    assert palabre("nlu-eval", "--train", "a.tsv").returncode == 2
    bad = palabre("nlu-eval", "--cv", "3", "x.tsv", "--threshold", "2")
    assert bad.returncode == 2 and "--threshold" in bad.stderr


def test_unseen_messy_messages_in_both_languages(palabre, data_dir):
    """Typos, no accents, SMS style, French and English: phrasings the
    classifier never saw must mostly land on the right intent."""
    out = palabre("nlu-eval", "--train", data_dir / "intents-fr-en.tsv",
                  "--test", data_dir / "intents-fr-en-test.tsv", "--json", check_rc=0)
    report = json.loads(out.stdout)
    assert report["test_examples"] == 38
    assert report["accuracy"] >= 0.85, report["confusions"]
    assert report["macro_f1"] >= 0.85
    assert report["oos_recall"] is None
    assert set(report["per_intent"]) >= {"greet", "order_beer", "complaint", "human"}
    for scores in report["per_intent"].values():
        assert 0 <= scores["precision"] <= 1 and 0 <= scores["recall"] <= 1
    assert report["train_ms"] > 0 and report["predict_per_s"] > 0


def test_text_report(palabre, data_dir):
    out = palabre("nlu-eval", "--train", data_dir / "intents-fr-en.tsv",
                  "--test", data_dir / "intents-fr-en-test.tsv", check_rc=0).stdout
    for field in ("accuracy", "macro-F1", "precision", "recall", "throughput", "order_beer"):
        assert field in out


def test_cross_validation(palabre, data_dir):
    # Two files are one data set; each of the 91 + 38 examples is tested once.
    report = json.loads(palabre("nlu-eval", "--cv", "5", data_dir / "intents-fr-en.tsv",
                                data_dir / "intents-fr-en-test.tsv", "--json",
                                check_rc=0).stdout)
    assert report["folds"] == 5
    assert report["test_examples"] == 129
    assert report["accuracy"] >= 0.7


def test_out_of_scope_counts_when_answered_none(palabre, data_dir, tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text((data_dir / "intents-fr-en.tsv").read_text() +
                     "oos\tquel temps fait-il demain\noos\twhat's the weather tomorrow\n"
                     "oos\traconte moi une blague\noos\ttell me a joke\n"
                     "oos\tqui a gagné le match hier\noos\twho won the game last night\n")
    test = tmp_path / "test.tsv"
    test.write_text("oos\tquel temps fera-t-il ce week-end\noos\ttell me a funny joke\n"
                    "greet\tbonjour\n")
    report = json.loads(palabre("nlu-eval", "--train", train, "--test", test, "--json",
                                check_rc=0).stdout)
    assert report["oos_recall"] == 1.0
    assert report["accuracy"] == 1.0


@pytest.mark.parametrize("content, line, why", [
    (b"greet\thello\nno tab on this line\n", 2, "expected intent<TAB>text"),
    (b"greet\thello\ngreet\t\xc3\x28\n", 2, "not valid UTF-8"),
    (b"\thello\n", 1, "empty intent"),
    (b"greet\thello\n\n# fine\ngreet\t\n", 4, "empty text"),
])
def test_malformed_file_names_file_and_line(palabre, data_dir, tmp_path, content, line, why):
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(content)
    proc = palabre("nlu-eval", "--train", bad, "--test", data_dir / "intents-fr-en-test.tsv")
    assert proc.returncode == 1
    assert f"{bad}:{line}:" in proc.stderr
    assert why in proc.stderr
    proc = palabre("nlu-eval", "--cv", "2", bad)
    assert proc.returncode == 1 and f"{bad}:{line}:" in proc.stderr


def test_missing_or_empty_file(palabre, tmp_path):
    proc = palabre("nlu-eval", "--cv", "3", tmp_path / "nope.tsv")
    assert proc.returncode == 1 and "nope.tsv" in proc.stderr
    empty = tmp_path / "empty.tsv"
    empty.write_text("# only a comment\n")
    proc = palabre("nlu-eval", "--cv", "3", empty)
    assert proc.returncode == 1 and "no examples" in proc.stderr
