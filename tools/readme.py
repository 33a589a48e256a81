"""Keeps the README's step table in step with steps/steps.toml.

python3 -m tools.readme           # rewrite the table between its markers
python3 -m tools.readme --check   # exit 1 if the README's table is stale
"""

from __future__ import annotations

import sys

from tools import table

README = table.ROOT / "README.md"
BEGIN = (
    "<!-- steps-table: generated from steps/steps.toml by `python3 -m tools.readme`;"
    " a test checks it -->"
)
END = "<!-- /steps-table -->"


def render() -> str:
    rows = ["| step | folder | the one idea it adds | needs |", "|---|---|---|---|"]
    for step in table.load():
        needs = ", ".join(step.needs) or "-"
        idea = step.idea.replace("|", "\\|")
        rows.append(
            f"| {step.n}: {step.title} | [`{step.dir}/`](steps/{step.dir}/) | {idea} | {needs} |"
        )
    return "\n".join(rows)


def updated(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    text = README.read_text()
    new = updated(text)
    if "--check" in argv:
        if new != text:
            print("README.md's step table is stale: run python3 -m tools.readme", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
