"""Markdown tables and verdicts, as every section of the benchmark's report writes them."""


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(value, target, higher_is_better=True):
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "**not met**"
