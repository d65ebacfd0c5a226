"""`snakemake --lint`, failing on every finding but one: the workflow runs in the one pinned
environment of envs/ (the README's set-up), so no rule names a conda environment or container of
its own. Usage: python .ci/snakemake_lint.py [SNAKEMAKE]"""

import subprocess
import sys

ACCEPTED = {"Specify a conda environment or container for each rule."}

if __name__ == "__main__":
    snakemake = sys.argv[1] if len(sys.argv) > 1 else "snakemake"
    proc = subprocess.run([snakemake, "--lint"], capture_output=True, text=True)
    where, findings = None, []
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("Lints for "):
            where = line.removeprefix("Lints for ").rstrip(":")
        elif line.startswith("    * "):
            title = line.removeprefix("    * ").rstrip(":")
            if title not in ACCEPTED:
                findings.append(f"{where}: {title}")
    if proc.returncode not in (0, 1) or "Traceback" in proc.stderr:
        sys.exit(f"snakemake --lint could not run:\n{proc.stderr[-3000:]}")
    for finding in findings:
        print(finding)
    print(f"snakemake --lint: {len(findings)} finding(s) beyond the accepted one")
    sys.exit(1 if findings else 0)
