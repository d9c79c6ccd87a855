#!/usr/bin/env bash
# Walks one sample session end to end with the rf binary given as $1 (used by ./dev run):
# a user cannot open a share, the first check finds nothing, a re-check loop fixes SMB
# reachability, a group change fixes access, and the session ends in a redacted Markdown note.
# Expects RF_DATA_DIR to hold an imported sample library.
set -euo pipefail
rf="$1"
flow="94de40a8"   # samples/flows/user-cannot-access-file-share.flow.json

step() { printf '\n$ rf %s\n' "$*"; "$rf" "$@"; }

printf '\n$ rf session start %s --ticket CW-48213 --client "Northwind Traders" ...\n' "$flow"
start_output="$("$rf" session start "$flow" --ticket CW-48213 --client "Northwind Traders" \
    --var username=jsmith --var file_server=fs02.northwind.local --var 'share_path=\\fs02\Finance$')"
printf '%s\n' "$start_output"
session="$(printf '%s\n' "$start_output" | tail -n 1 | cut -c1-8)"

step session answer "$session" "Several users, or everyone" --note "Three users in Finance report the same error since 08:40"
step session output "$session" "TcpTestSucceeded : False  (RemoteAddress 10.40.2.15, from VLAN 40)"
step session answer "$session" 3
step session note "$session" "Windows Firewall on fs02 had lost the File and Printer Sharing rule after last night's GPO change"
step session answer "$session" done
step session answer "$session" "Both work"
step session answer "$session" "access is denied"
step session answer "$session" 1 --note "jsmith is not in GG-Finance-RW; approved by the data owner (Dana, CHG-7781)"
step session answer "$session" done
step session answer "$session" done
step session answer "$session" yes
step session finish "$session" --outcome resolved \
    --summary "SMB was blocked on fs02 after a GPO change (firewall rule restored) and jsmith lacked GG-Finance-RW (added with the owner's approval)." \
    --next-steps "Review the firewall GPO change with the server team."
step session export "$session" --format md --redact
