"""What `tessera apis apply` and `tessera clients apply` share: the plan they print.

Terraform's habits: the plan is computed against the stored rows first and printed, one
line per change (`+` add, `~` change, `-` remove); applying it makes exactly those
changes in the caller's one transaction; a second apply of the same file plans nothing.
"""

from dataclasses import dataclass, field


@dataclass(slots=True)
class Plan:
    """What applying the file changes; each entry is one line of the printed plan."""

    add: list[str] = field(default_factory=list)
    change: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    # What the operator must see once, after applying (a new client's secret).
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.add or self.change or self.remove)

    def render(self) -> str:
        if self.empty:
            return "no changes"
        lines = [*(f"+ {a}" for a in self.add), *(f"~ {c}" for c in self.change)]
        lines += [f"- {r}" for r in self.remove]
        counts = f"{len(self.add)} to add, {len(self.change)} to change, "
        return "\n".join([*lines, f"plan: {counts}{len(self.remove)} to remove", *self.notes])
