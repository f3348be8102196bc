"""scripts/gen-monresultat-data: the communes and the demo election results the
monresultat bot looks up. Runs the real generator on the real npm package
(installed by scripts/bootstrap) into a temporary directory."""
import collections
import csv
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "gen-monresultat-data"
PACKAGE = ROOT / "node_modules" / "codes-postaux" / "codes-postaux.json"


def generate(out_dir):
    proc = subprocess.run([str(GENERATOR), str(out_dir)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return {name: (out_dir / name).read_bytes()
            for name in ("communes.csv", "results.csv", "README.md")}


def read_csv(data):
    return list(csv.DictReader(data.decode("utf-8").splitlines()))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    if shutil.which("node") is None:
        pytest.fail("node is not installed: run scripts/bootstrap")
    if not PACKAGE.exists():
        pytest.fail(f"{PACKAGE} is missing: run scripts/bootstrap (it runs npm ci)")
    first = generate(tmp_path_factory.mktemp("first"))
    second = generate(tmp_path_factory.mktemp("second"))
    return first, second


def test_same_bytes_every_run(generated):
    first, second = generated
    assert first == second


def test_communes_one_row_per_postcode_and_commune(generated):
    data = generated[0]["communes.csv"]
    assert data.startswith(b"postcode,insee,commune,link\n")
    rows = read_csv(data)
    assert len(rows) > 30000
    assert len({(r["postcode"], r["insee"]) for r in rows}) == len(rows)
    by_code = collections.defaultdict(list)
    for r in rows:
        by_code[r["postcode"]].append(r)
    paris_11 = by_code["75011"]
    assert [(r["insee"], r["commune"]) for r in paris_11] == [
        ("75111", "Paris 11e Arrondissement")]
    assert paris_11[0]["link"] == "https://resultats.example/communes/75111"
    assert [r["commune"] for r in by_code["69003"]] == ["Lyon 3e Arrondissement"]
    # A postal code shared by several communes: the bot must ask which one.
    assert max(len(v) for v in by_code.values()) >= 5
    assert {"Châtillon-sur-Chalaronne", "L'Abergement-Clémenciat"} <= {
        r["commune"] for r in by_code["01400"]}
    # Names keep their accents, decoded as UTF-8 (not La Poste's upper case).
    names = {r["commune"] for r in rows}
    assert "Saint-Denis-lès-Bourg" in names and "Aix-Villemaur-Pâlis" in names


def test_results_are_labelled_demo_and_add_up(generated):
    communes = {r["insee"] for r in read_csv(generated[0]["communes.csv"])}
    data = generated[0]["results.csv"]
    assert data.startswith(b"insee,rank,candidate,votes,percent,turnout,demo\n")
    rows = read_csv(data)
    by_insee = collections.defaultdict(list)
    for r in rows:
        by_insee[r["insee"]].append(r)
    assert set(by_insee) == communes
    for insee, lists in by_insee.items():
        assert 4 <= len(lists) <= 6, insee
        assert abs(sum(float(r["percent"]) for r in lists) - 100.0) <= 0.1, insee
        assert [int(r["rank"]) for r in lists] == list(range(1, len(lists) + 1)), insee
        votes = [int(r["votes"]) for r in lists]
        assert votes == sorted(votes, reverse=True), insee
        turnout = {r["turnout"] for r in lists}
        assert len(turnout) == 1 and 40.0 <= float(turnout.pop()) <= 85.0, insee
    assert {r["demo"] for r in rows} == {"1"}
    assert "DEMO DATA" in generated[0]["README.md"].decode("utf-8")
