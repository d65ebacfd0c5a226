"""`snakemake --lint`, failing on every finding but two, each a choice of this workflow:
- the workflow runs in the one pinned environment of envs/ (the README's set-up), so no rule names
  a conda environment or container of its own;
- a stage's input functions stand at the top of its own rule file, beside the rules that use them
  (as PyPSA-Eur keeps them; ../shared/STYLE.md), so that common.smk holds only what every stage
  needs; the lint would have them all in common.smk.
Usage: python .ci/snakemake_lint.py [SNAKEMAKE]"""

import subprocess
import sys

ACCEPTED = {
    "Specify a conda environment or container for each rule.",
    "Mixed rules and functions in same snakefile.",
}

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
    print(f"snakemake --lint: {len(findings)} finding(s) beyond the accepted ones")
    sys.exit(1 if findings else 0)
