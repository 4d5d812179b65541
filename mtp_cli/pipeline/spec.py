"""A recipe made into step configs: every section checked, every output path fixed, before anything runs.

A recipe has these top-level sections (only `tokenize` and `train` are required):

    import:    {src, tokenizer}                  -> OUT/imported/  (then tokenize uses its tokenizer.json
                                                    and every run starts from it: --init-from)
    synth:     {task, task settings}             -> OUT/synth/  (then tokenize reads its train.jsonl,
                                                    every generation its test.jsonl, and eval scores
                                                    exact-match accuracy per difficulty)
    tokenize:  TokenizeConfig fields             -> OUT/tokenized/
    train:     TrainConfig fields                -> OUT/runs/<run>/   (one run, named "model")
    runs:      {name: TrainConfig fields}        several runs, each the `train` section plus its changes
    generate:  {name: GenerateConfig fields}     -> OUT/samples/<run>/<name>.jsonl, for every run
    eval:      EvalSettings fields               -> OUT/eval/<run>/<name>/, for every generation
    report:    true | false                      -> OUT/report/

The output paths and the links between steps (data, checkpoint, samples) belong to the pipeline:
a recipe that sets them is refused like any unknown key.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mtp_cli.artifacts import MtpError
from mtp_cli.artifacts.typed import coerce
from mtp_cli.pipeline.recipe import build_section

SECTIONS = ("import", "synth", "tokenize", "train", "runs", "generate", "eval", "report")
SYNTH_TASKS = ("polynomials", "induction")
DEFAULT_RUN = "model"
EVAL_DATASETS = ("humaneval", "mbpp")


@dataclass
class EvalSettings:
    """What a recipe may set of `mtp eval pass@k`; dataset and samples come from each generation."""

    ks: list[int] = field(default_factory=lambda: [1])
    workers: int = 0  # 0: one per core
    timeout: float | None = None  # None: the dataset's default (HumanEval 3 s, MBPP 10 s)
    memory_mb: int = 2048


@dataclass
class ImportSettings:
    """What a recipe may set of `mtp import`: the local model folder, and a release's tokenizer.model."""

    src: str | None = None
    tokenizer: str | None = None


@dataclass
class SynthSpec:
    """A synthetic task's settings (PolynomialSettings or InductionSettings, out fixed by the pipeline)."""

    task: str
    settings: Any


@dataclass
class GenerationSpec:
    name: str
    config: Any  # GenerateConfig with checkpoint and out filled in per run

    @property
    def speculative(self) -> bool:
        return self.config.mode == "speculative"


@dataclass
class PipelineSpec:
    out: Path
    recipe: dict[str, Any]  # the recipe as read, with --set applied (written beside the outputs)
    tokenize: Any  # TokenizeConfig
    runs: dict[str, Any]  # name -> TrainConfig
    generations: list[GenerationSpec]
    eval: EvalSettings | None
    report: bool
    imported: ImportSettings | None = None
    synth: SynthSpec | None = None

    # ---- where each step writes -------------------------------------------------------------

    @property
    def imported_folder(self) -> Path:
        return self.out / "imported"

    @property
    def synth_folder(self) -> Path:
        return self.out / "synth"

    @property
    def tokenized(self) -> Path:
        return self.out / "tokenized"

    def run_folder(self, run: str) -> Path:
        return self.out / "runs" / run

    def samples_file(self, run: str, generation: str) -> Path:
        return self.out / "samples" / run / f"{generation}.jsonl"

    def eval_folder(self, run: str, generation: str) -> Path:
        return self.out / "eval" / run / generation

    @property
    def report_folder(self) -> Path:
        return self.out / "report"

    def run_model(self, run: str) -> str:
        """What a run trains, in a few words: its preset, or the imported model it starts from."""
        config = self.runs[run]
        heads = f"{config.heads} head" + ("s" if config.heads != 1 else "")
        kind = config.model_overrides.get("head_type", "transformer")
        heads += f" ({kind})" if kind != "transformer" and config.heads > 1 else ""
        window = config.model_overrides.get("window_size", 0)
        heads += f" + window head w={window}" if window else ""
        start = "imported model" + (", trunk frozen" if config.freeze_trunk else "") if self.imported else config.preset
        return f"{start}, {heads}"

    def generation_config(self, generation: GenerationSpec, run: str) -> Any:
        checkpoint, out = self.run_folder(run), self.samples_file(run, generation.name)
        return replace(generation.config, checkpoint=checkpoint, out=out)


def _mapping(recipe: dict[str, Any], section: str) -> dict[str, Any]:
    value = recipe.get(section)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MtpError(f"recipe section '{section}' must be a mapping of keys to values")
    return value


def _check_name(name: Any, section: str) -> str:
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise MtpError(f"recipe name {section}.{name!r} is not a plain name", "use letters, digits, '-', '_' or '.'")
    return name


def _import(recipe: dict[str, Any]) -> ImportSettings | None:
    if "import" not in recipe:
        return None
    settings = build_section(ImportSettings, _mapping(recipe, "import"), "import")
    if not settings.src:
        raise MtpError("recipe section 'import' has no src", "name the local model folder: --set import.src=PATH")
    if not Path(settings.src).is_dir():
        raise MtpError(f"recipe value import.src: {settings.src} is not a folder", "a local Hugging Face or release model folder")
    return settings


def _synth(recipe: dict[str, Any], out: Path) -> SynthSpec | None:
    from mtp_cli.synth import InductionSettings, PolynomialSettings

    if "synth" not in recipe:
        return None
    values = dict(_mapping(recipe, "synth"))
    task = values.pop("task", None)
    if task not in SYNTH_TASKS:
        raise MtpError(f"recipe value synth.task={task!r} is not one of {', '.join(SYNTH_TASKS)}")
    cls = PolynomialSettings if task == "polynomials" else InductionSettings
    settings = build_section(cls, values, "synth", {"out": out, "overwrite": True})
    settings.validate()
    return SynthSpec(task, settings)


def _tokenize(recipe: dict[str, Any], out: Path, imported: Path | None, synth: Path | None = None) -> Any:
    from mtp_cli.tokenize.corpus import TokenizeConfig, validate_config

    if "tokenize" not in recipe:
        raise MtpError("recipe has no 'tokenize' section", "add one: `tokenize: {tokenizer: bpe, seq_len: 256}`")
    fixed: dict[str, Any] = {"out": out, "overwrite": False}
    if imported is not None:  # the data must be in the imported model's tokens
        fixed["tokenizer"] = str(imported / "tokenizer.json")
    if synth is not None:  # the synthetic task's training corpus
        fixed["sources"] = [str(synth / "train.jsonl")]
    config = build_section(TokenizeConfig, _mapping(recipe, "tokenize"), "tokenize", fixed)
    validate_config(config)
    return config


def _runs(recipe: dict[str, Any], out: Path, imported: Path | None) -> dict[str, Any]:
    from mtp_cli.train import TrainConfig

    if "train" not in recipe:
        raise MtpError("recipe has no 'train' section", "add one: `train: {preset: tiny, heads: 4, steps: 300}`")
    shared = _mapping(recipe, "train")
    variants = _mapping(recipe, "runs") or {DEFAULT_RUN: {}}
    runs = {}
    for name, changes in variants.items():
        name = _check_name(name, "runs")
        if changes is not None and not isinstance(changes, dict):
            raise MtpError(f"recipe run 'runs.{name}' must be a mapping of train keys to values")
        values = {**shared, **(changes or {})}
        fixed = {"data": out / "tokenized", "out": out / "runs" / name}
        if imported is not None:
            fixed["init_from"] = imported
        section = f"runs.{name}" if changes else "train"
        runs[name] = build_section(TrainConfig, values, section, fixed)
        runs[name].model_overrides = _model_overrides(runs[name], section)
    return runs


def _model_overrides(config: Any, section: str) -> dict[str, Any]:
    """The run's model fields, type-checked, and the model config they make checked as a whole."""
    from mtp_cli.model import ModelConfig, build_config

    hints = typing.get_type_hints(ModelConfig)
    overrides = {}
    for key, value in config.model_overrides.items():
        if key not in hints:
            raise MtpError(f"unknown recipe key '{section}.model_overrides.{key}'", f"model fields: {', '.join(hints)}")
        overrides[key] = coerce(value, hints[key], f"recipe value {section}.model_overrides.{key}")
    build_config(config.preset, {**overrides, "n_future_tokens": config.heads})  # checked with the run's heads
    return overrides


def _generations(recipe: dict[str, Any], evaluating: bool, synth: Path | None = None) -> list[GenerationSpec]:
    from mtp_cli.generate.config import GenerateConfig

    generations = []
    for name, values in _mapping(recipe, "generate").items():
        name = _check_name(name, "generate")
        section = f"generate.{name}"
        fixed = {"checkpoint": Path("."), "out": Path("."), "overwrite": True}  # the samples files are the pipeline's own
        if synth is not None:  # every generation answers the task's test problems
            fixed.update(prompts=synth / "test.jsonl", dataset=None, problems=None, prompt=None)
        config = build_section(GenerateConfig, values or {}, section, fixed)
        config.validate()
        sources = [x for x in (config.dataset, config.problems, config.prompts, config.prompt) if x is not None]
        if len(sources) != 1:
            raise MtpError(f"recipe section '{section}' needs exactly one of dataset, problems, prompts, prompt")
        for key in ("prompts", "problems"):
            if synth is None and getattr(config, key) is not None and not Path(getattr(config, key)).is_file():
                raise MtpError(f"recipe value {section}.{key}: {getattr(config, key)} does not exist")
        if evaluating and synth is None and config.dataset not in EVAL_DATASETS and config.problems is None:
            raise MtpError(
                f"recipe section '{section}' cannot be evaluated: pass@k needs dataset humaneval or mbpp, or a problems file",
                "set its dataset or problems, or drop the 'eval' section",
            )
        generations.append(GenerationSpec(name, config))
    return generations


def _eval(recipe: dict[str, Any]) -> EvalSettings | None:
    if recipe.get("eval") is None:
        return None
    settings = build_section(EvalSettings, _mapping(recipe, "eval"), "eval")
    if not settings.ks or any(k < 1 for k in settings.ks):
        raise MtpError(f"recipe value eval.ks={settings.ks} must list positive integers", "e.g. ks: [1, 10]")
    if settings.timeout is not None and settings.timeout <= 0:
        raise MtpError(f"recipe value eval.timeout={settings.timeout} must be positive")
    return settings


def build_pipeline(recipe: dict[str, Any], out: Path) -> PipelineSpec:
    """Check a whole recipe (every key, every value, the links between steps) and fix its paths."""
    for section in recipe:
        if section not in SECTIONS:
            raise MtpError(f"unknown recipe section '{section}'", f"sections: {', '.join(SECTIONS)}")
    out = Path(out)
    imported = _import(recipe)
    imported_folder = out / "imported" if imported is not None else None
    synth = _synth(recipe, out / "synth")
    synth_folder = out / "synth" if synth is not None else None
    eval_settings = _eval(recipe)
    generations = _generations(recipe, evaluating=eval_settings is not None, synth=synth_folder)
    if eval_settings is not None and not generations:
        raise MtpError("recipe has an 'eval' section but nothing to evaluate", "add a 'generate' section")
    spec = PipelineSpec(
        out=out,
        recipe=recipe,
        tokenize=_tokenize(recipe, out / "tokenized", imported_folder, synth_folder),
        runs=_runs(recipe, out, imported_folder),
        generations=generations,
        eval=eval_settings,
        report=coerce(recipe.get("report", True), bool, "recipe value report"),
        imported=imported,
        synth=synth,
    )
    _check_speculative(spec)
    return spec


def _check_speculative(spec: PipelineSpec) -> None:
    """Speculative decoding needs drafting heads; a run with one head skips it (said at run time),
    but a recipe where no run could draft is a mistake."""
    speculative = [g.name for g in spec.generations if g.speculative]
    if speculative and all(run.heads == 1 for run in spec.runs.values()):
        raise MtpError(
            f"recipe generation '{speculative[0]}' is speculative, but every run has 1 head: nothing can draft",
            "train with heads: 2 or more, or use mode: greedy",
        )
    for generation in (g for g in spec.generations if g.speculative):
        for run in (r for r in spec.runs.values() if r.heads > 1):
            generation.config.check_draft_heads(run.heads)
