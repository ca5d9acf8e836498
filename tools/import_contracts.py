"""An import-linter contract type: "these packages import only the standard library (and a few named
first-party packages)". The built-in `forbidden` contract needs a list of every third-party package,
which silently rots as dependencies are added; this one allows by rule instead of forbidding by list."""

import sys

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


class StdlibOnlyContract(Contract):
    type_name = "stdlib only"

    source_modules = fields.ListField(subfield=fields.StringField())
    allowed_modules = fields.ListField(subfield=fields.StringField(), required=False, default=[])

    def _allowed(self, source: str, imported: str) -> bool:
        top = imported.split(".", maxsplit=1)[0]
        if top in sys.stdlib_module_names or top == source.split(".", maxsplit=1)[0]:
            return True
        return any(imported == a or imported.startswith(a + ".") for a in self.allowed_modules)  # type: ignore[attr-defined]

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        illegal = []
        for source in self.source_modules:  # type: ignore[attr-defined]
            for module in sorted({source} | graph.find_descendants(source)):
                for imported in sorted(graph.find_modules_directly_imported_by(module)):
                    if self._allowed(source, imported):
                        continue
                    lines = [d["line_number"] for d in graph.get_import_details(importer=module, imported=imported)]
                    illegal.append({"importer": module, "imported": imported, "lines": lines})
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for item in check.metadata["illegal"]:
            where = ", ".join(f"l.{n}" for n in item["lines"])
            output.print_error(f"{item['importer']} imports {item['imported']} ({where})", bold=False)
            output.new_line()
