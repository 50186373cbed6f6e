"""Lab 04's parameters cell, typed (``lablib.notebook.parameters.read(globals(), lab="04")``)."""

from lablib.notebook.parameters import LANG, Int, IntList, Param

PARAMETERS: dict[str, Param] = {
    "task_concurrency": IntList(low=1),
    "task_runs": Int(low=1),
    "book_concurrency": IntList(low=1),
    "book_runs": Int(low=1),
    "lang": LANG,
}
