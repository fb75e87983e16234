#!/usr/bin/env bash
# Regenerates docs/screenshots/*.svg: the real console, on a freshly seeded
# demo organization, at 80×23 (tmux in an 80×24 terminal), captured from tmux and rendered with
# charmbracelet/freeze v0.2.2. Needs Go and tmux. Run from anywhere:
#
#   docs/screenshots.sh
#
# The demo is seeded relative to today, so dates and ages change from run to run.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # keydesk's Go release; a machine ignores go.mod's line
cd "$(dirname "$0")/.."

session=keydesk-shots-$$
work=$(mktemp -d)
trap 'tmux kill-session -t "$session" 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/keydesk" .
"$work/keydesk" demo --data "$work/data" --seed-only >/dev/null
freeze() { go run github.com/charmbracelet/freeze@v0.2.2 "$@"; }

tmux new-session -d -s "$session" -x 80 -y 23 \
  "env TERM=xterm-256color COLORTERM=truecolor '$work/keydesk' --data '$work/data'"

# wait_for TEXT: until the pane shows TEXT (10 s at most).
wait_for() {
  for _ in $(seq 100); do
    if tmux capture-pane -p -t "$session" | grep -qF -- "$1"; then return 0; fi
    sleep 0.1
  done
  echo "screenshots: the console never showed \"$1\":" >&2
  tmux capture-pane -p -t "$session" >&2
  exit 1
}

# shot NAME: the pane as it is now, with colours, to docs/screenshots/NAME.svg.
shot() {
  tmux capture-pane -e -p -t "$session" >"$work/$1.ansi"
  freeze --language ansi --window --theme dracula --padding 20 --margin 0 \
    --font.size 14 --output "docs/screenshots/$1.svg" <"$work/$1.ansi" >/dev/null
  echo "docs/screenshots/$1.svg"
}

wait_for "API Refresh Token"
wait_for "backup job"
shot profile            # My Profile, with the login banner
tmux send-keys -t "$session" Escape
tmux send-keys -t "$session" 2
wait_for "the whole organization"
wait_for "HOLDER"
shot tokens             # API Tokens
tmux send-keys -t "$session" 3
wait_for "ROLE"
shot users              # Users
tmux send-keys -t "$session" 4
wait_for "ACTOR"
shot audit              # Audit Log
tmux send-keys -t "$session" q
