"""Fail on any import circle between the project's modules: ``python .ci/import_cycles.py PKG...``.

The graph is grimp's, read from the code's own import statements, those inside functions
included, so an import moved into a function does not hide a circle. Each circle is printed as
the chain of modules that closes it.
"""

import sys

import grimp


def circles(graph):
    """Each strongly connected group of two or more modules (Tarjan's algorithm), sorted."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return sorted(found)


def main(packages):
    sys.path.insert(0, ".")
    graph = grimp.build_graph(*packages, include_external_packages=False)
    found = circles(graph)
    for group in found:
        first, second = group[0], group[1]
        there = graph.find_shortest_chain(importer=first, imported=second) or (first, second)
        back = graph.find_shortest_chain(importer=second, imported=first) or (second, first)
        print("import circle: " + " -> ".join((*there, *back[1:])))
    if not found:
        print(f"no import circle among {len(graph.modules)} modules")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["inference", "container", "scripts"]))
