"""The parts of the `helm` CLI the chart's tests and users without Helm need, on Helm's
own Go SDK (helm-python-sdk):

  helm.py template CHART [--name RELEASE] [--namespace NS] [-f VALUES]... [--set K=V]... [--include-crds]
  helm.py lint CHART [-f VALUES]... [--set K=V]...
  helm.py package CHART DEST_DIR

`template` prints the manifests as `helm template` does (`---` + `# Source:` per
document); bad values or a failing template print Helm's message and exit 1.
"""

import argparse
import sys

import helm_python as helm


def merge(into, new):
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value
    return into


def user_values(args):
    values = {}
    for path in args.values or []:
        with open(path, encoding="utf-8") as f:
            merge(values, helm.values_from_yaml(f.read()))
    if args.set:
        # One parse, so `a[0].x=1` and `a[0].y=2` build the same list item, as Helm's
        # repeated --set flags do.
        merge(values, helm.parse_set_string(",".join(args.set)))
    return values


def template(args):
    with helm.Chart.load(args.chart) as chart:
        values = user_values(args)
        out = []
        if args.include_crds:
            for crd in chart.crds:
                for doc in crd["data"].split("\n---\n"):
                    doc = doc.strip().removeprefix("---").strip()
                    if doc:
                        out.append(f"---\n# Source: {chart.name}/{crd['name']}\n{doc}\n")
        # Helm checks the values against values.schema.json while rendering.
        rendered = chart.render(values, name=args.name, namespace=args.namespace, is_install=True)
        for path in sorted(rendered):
            if path.endswith("NOTES.txt"):
                continue
            for doc in rendered[path].split("\n---\n"):
                doc = doc.strip()
                if doc.strip("-").strip():
                    out.append(f"---\n# Source: {path}\n{doc}\n")
        sys.stdout.write("".join(out))
        if args.notes:
            notes = [rendered[p] for p in rendered if p.endswith("NOTES.txt")]
            sys.stderr.write("".join(notes))


def lint(args):
    report = helm.lint(args.chart, user_values(args), strict=True)
    for message in report.get("messages", []):
        print(f"[{['UNKNOWN', 'INFO', 'WARNING', 'ERROR'][message['severity']]}] {message['path']}: {message['error']}")
    if report.get("errors"):
        for error in report["errors"]:
            print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"{report.get('total_charts_linted', 0)} chart(s) linted, 0 chart(s) failed")


def package(args):
    print(helm.package(args.chart, destination=args.dest))


def main():
    parser = argparse.ArgumentParser(prog="charts/helm.sh")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ["template", "lint"]:
        p = sub.add_parser(name)
        p.add_argument("chart")
        p.add_argument("-f", "--values", action="append")
        p.add_argument("--set", action="append")
        if name == "template":
            p.add_argument("--name", default="spin-operator")
            p.add_argument("--namespace", default="spin-system")
            p.add_argument("--include-crds", action="store_true")
            p.add_argument("--notes", action="store_true", help="print NOTES.txt to stderr")
    p = sub.add_parser("package")
    p.add_argument("chart")
    p.add_argument("dest")
    args = parser.parse_args()
    try:
        {"template": template, "lint": lint, "package": package}[args.command](args)
    except helm.HelmError as e:
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
