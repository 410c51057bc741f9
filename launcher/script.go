package launcher

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/rootfs-pull/rootfs-pull/android"
	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// host is where the launcher is written: its sh is the script's
// interpreter (tests lay out an Android elsewhere).
var host = android.Host{}

// Script returns the launcher for the rootfs dir, to be written at path.
// Its interpreter is /bin/sh, or on Android (Termux, su, another app) an
// sh that exists there without termux-exec: $PREFIX/bin/sh, else
// /system/bin/sh (mksh).
// The rootfs is found relative to the script's own location when both
// share a parent, so the pair can be moved together.
func Script(path, dir string, cfg Config) ([]byte, error) {
	absPath, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	rootfsExpr := Quote(absDir)
	if rel, err := filepath.Rel(filepath.Dir(absPath), absDir); err == nil && !strings.HasPrefix(rel, "..") {
		rootfsExpr = `"$here"/` + Quote(rel)
	}
	if cfg.QemuArch != "" && !knownQemu(cfg.QemuArch) {
		return nil, fmt.Errorf("%w: qemu architecture %s is not one this tool knows", ErrBadConfig, Printable(cfg.QemuArch, 60))
	}
	if err := checkProgram("the image's command", cfg.DefaultCommand()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	runtimeEnv, guest := splitHost(cfg.env())
	data := map[string]any{
		"Name":          filepath.Base(path),
		"Shell":         host.Shell(),
		"Cfg":           cfg,
		"Rootfs":        rootfsExpr,
		"Entrypoint":    Quote(QuoteArgs(cfg.Entrypoint)),
		"Cmd":           Quote(QuoteArgs(cfg.Cmd)),
		"Env":           runtimeEnv,
		"GuestEnv":      guest,
		"GuestProg":     guestEnvProg,
		"Sensitive":     shSensitive(),
		"Proot":         cfg.scriptArgv(Proot),
		"Chroot":        cfg.scriptArgv(Chroot),
		"Ruri":          cfg.scriptArgv(Ruri),
		"EnvLines":      envLines(runtimeEnv, cfg.UserHome),
		"Groups":        groupsWord(cfg.User),
		"KernelRelease": DefaultKernelRelease,
		"AndroidRoot":   host.Root,
		"Defaults":      filepath.Base(DefaultsPath(path)),
		"Escapes":       escapeTable,
		// Termux's coreutils, where su's PATH does not lead.
		"TermuxChroot": android.TermuxPrefix + "/bin/chroot",
	}
	var buf bytes.Buffer
	if err := scriptTemplate.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// shWords turns argv into `q WORD` lines, with rootfsVar as "$rootfs",
// workdirVar as "$workdir", homeVar as "$home", and userVar as a call of
// user_words (the words of the user -u/--user chose).
func shWords(argv []string) string {
	var b strings.Builder
	for _, w := range argv {
		if w == "" { // an empty value of ruri's -e NAME VALUE
			b.WriteString("\tq ''\n")
			continue
		}
		if w == userVar {
			b.WriteString("\tuser_words\n")
			continue
		}
		fmt.Fprintf(&b, "\tq %s\n", shWord(w))
	}
	return b.String()
}

// shVars are the markers of run-time values and the shell's names for them.
var shVars = []struct{ marker, sh string }{{rootfsVar, `"$rootfs"`}, {workdirVar, `"$workdir"`}, {homeVar, `"$home"`}}

// shWord is w quoted for the shell, its markers as the shell's variables.
func shWord(w string) string {
	if w == "" {
		return "''"
	}
	for _, v := range shVars {
		if !strings.Contains(w, v.marker) {
			continue
		}
		parts := strings.Split(w, v.marker)
		for i, p := range parts {
			parts[i] = ""
			if p != "" {
				parts[i] = shWord(p)
			}
		}
		return strings.Join(parts, v.sh)
	}
	return Quote(w)
}

// envLines are the `q NAME=VALUE` lines of the runtime's environment; HOME
// is the run-time "$home" when it is the user's (Config.UserHome).
func envLines(env []string, userHome bool) string {
	var b strings.Builder
	for _, kv := range env {
		if userHome && strings.HasPrefix(kv, "HOME=") {
			kv = "HOME=" + homeVar
		}
		fmt.Fprintf(&b, "\nq %s", shWord(kv))
	}
	return b.String()
}

// escapeTable is the launcher's list of what its dry run escapes, for
// printf: each character (octal bytes), "/", its escape, "/". These are the
// characters safetext escapes in the Basic Multilingual Plane: C0, DEL,
// C1, invisible format characters (bidi overrides, zero-width ones) and
// the line and paragraph separators. (Beyond it, only invisible tag
// characters and a few rare format characters are left as they are, as
// is a byte that is not UTF-8.)
var escapeTable = func() string {
	var b strings.Builder
	for r := rune(1); r <= 0xffff; r++ {
		c := string(r)
		if r >= 0xd800 && r <= 0xdfff || safetext.Safe(c) {
			continue
		}
		for i := 0; i < len(c); i++ {
			fmt.Fprintf(&b, `\%03o`, c[i])
		}
		b.WriteString("/" + strings.ReplaceAll(safetext.Cut(c, 0), `\`, `\\`) + "/")
	}
	return strings.TrimSuffix(b.String(), "/")
}()

// comment makes s safe inside a "# …" line: an image's config is not
// trusted, and a newline in it would end the comment and start a command
// on the host.
func comment(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return '?'
		}
		return r
	}, s)
}

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// QuoteArgs joins args into one line a POSIX shell reads back as args.
func QuoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = Quote(a)
	}
	return strings.Join(out, " ")
}

var scriptTemplate = template.Must(template.New("launcher").Funcs(template.FuncMap{
	"q": Quote, "c": comment, "words": shWords, "rest": func(a []string) []string { return a[1:] },
}).Parse(`#!{{.Shell}}
# {{c .Name}}: start {{c .Cfg.Image}} ({{c .Cfg.Platform}}) the way docker run would.
#
# Usage: {{c .Name}} [OPTION]... [--] [COMMAND [ARG]...]
#   COMMAND [ARG]...       replaces the image's Cmd, as docker run does
# As docker run:
#   -e, --env NAME=VALUE   adds or overrides a variable     -e LANG=C.UTF-8
#   --env-file FILE        NAME=VALUE lines; # comments; a bare NAME takes
#                          this shell's value               --env-file ./app.env
#   --entrypoint PROG      replaces the Entrypoint (and drops the Cmd)
#                                                           --entrypoint /bin/sh
#   -v, --volume HOST[:CONTAINER][:ro]   a host file or directory inside
#                          (repeatable; :ro is for chroot and ruri)
#                                                           -v ~/src:/src
#   -u, --user NAME|UID[:GROUP|GID]   runs as this user of the image
#                                                           -u 1000:1000
#   -w, --workdir DIR      starts in DIR (absolute)         -w /tmp
#   --hostname NAME        the container's host name: chroot and ruri in a
#                          UTS namespace; proot fakes uname's (hostname,
#                          uname -n)                        --hostname box
#   There is no --rm: the rootfs persists, with what the container changed.
# As proot-distro login (on Termux):
#   --bind-storage         Android's shared storage (/sdcard, /storage)
#   --shared-tmp           Termux's $PREFIX/tmp (elsewhere /tmp) as /tmp, so
#                          X11 and PulseAudio sockets work
#   --shared-home          your $HOME as the container user's home
#   --shared-x11           $PREFIX/tmp/.X11-unix (or /tmp's) as /tmp/.X11-unix
#   --isolated             on Android, none of the default binds: $PREFIX,
#                          /system, /apex, /vendor, /odm, /product,
#                          /system_ext, /linkerconfig (those that exist)
#   -p, --fix-low-ports    proot: a port below 1024 becomes port+2000, so
#                          servers start without root (Termux's proot)
#   --kernel-release R     proot: uname -r says R (on Android, with Termux's
#                          proot, by default {{c .KernelRelease}}: no
#                          "FATAL: kernel too old")
#                                                           --kernel-release 6.1.0
#   --no-link2symlink, --no-sysvipc, --no-kill-on-exit
#                          leave out these extensions of Termux's proot
#   --no-defaults          ignores {{c .Defaults}} (it must come first)
# Defaults: {{c .Defaults}} beside this script, if you make it, holds
#   options read before the arguments, one a line ("--shared-tmp",
#   "-v ~/src:/src"; # comments on lines of their own; a relative path is
#   beside it); rootfs-pull keeps it when it updates.
# Environment:
#   ROOTFS_RUNTIME=proot|chroot|ruri|auto   how to run it (default: {{c .Cfg.Runtime}};
#                       auto: chroot, or ruri if installed, for root; proot otherwise)
#   ROOTFS_BIND_STORAGE=1                   as --bind-storage
#   ROOTFS_DRY_RUN=1                        print the command instead of running it
#
# Written by rootfs-pull for {{c .Cfg.Image}}@{{c .Cfg.Digest}}; it finds the
# rootfs beside itself (move the two together) and needs nothing but sh and
# the runtime. rootfs-pull replaces it when it updates the rootfs.
set -eu
me=${0##*/}
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd -P)
rootfs={{.Rootfs}}

# From the image's config.
entrypoint={{.Entrypoint}}
cmd={{.Cmd}}
workdir={{q .Cfg.WorkingDir}}
qemu_arch={{q .Cfg.QemuArch}}
platform={{q .Cfg.Platform}}
# The image's User: uid, gid, ",supplementary,groups" and home.
uid={{.Cfg.User.UID}} gid={{.Cfg.User.GID}} groups={{q .Groups}} home={{q .Cfg.User.Home}}
# What proot's uname says on Android (--kernel-release), and where the
# Android is (tests lay one out elsewhere).
kernel_default={{q .KernelRelease}} android_root={{q .AndroidRoot}}

# shown prints $1 with its control and invisible format characters escaped
# (\x1b, \n, \u202e: as rootfs-pull prints an image's text), so that an
# image's words cannot act on the terminal. The line is exact, to paste,
# when it holds none of them; for reading otherwise.
shown() {
	# Byte by byte: every escape in the table is a byte sequence, and a
	# shell matching characters in a UTF-8 locale misreads invalid bytes
	# (bash then prints bytes from its heap). The script ends after this.
	LC_ALL=C
	export LC_ALL
	_s=$1
	_ifs=$IFS
	IFS=/
	set -f
	# Pairs CHARACTER/ESCAPE, in octal for printf.
	set -- $(printf '{{.Escapes}}')
	IFS=$_ifs
	set +f
	while [ $# -ge 2 ]; do
		case $_s in
		*"$1"*)
			_o=
			while :; do
				case $_s in
				*"$1"*)
					_o=$_o${_s%%"$1"*}$2
					_s=${_s#*"$1"}
					;;
				*) break ;;
				esac
			done
			_s=$_o$_s
			;;
		esac
		shift 2
	done
	printf '%s\n' "$_s"
}

# cut sets $_cut to $1 cut to a readable length (a line of a file, for a
# message).
cut() {
	_cut=$(printf '%.60s' "$1")
	[ "$_cut" = "$1" ] || _cut="$_cut…"
}

# die and usage say what failed in one line, escaped as shown escapes
# (the image's text may be in it: a home directory, a path), and end.
die() {
	shown "$me: $*" >&2
	exit 1
}

usage() {
	shown "$me: $*" >&2
	exit 2
}

# prog prints the absolute path of host program $1, from PATH's absolute
# directories. env is given the image's PATH: it must never look a runtime
# up itself (command -v may answer a bare name: busybox's applets).
prog() {
	_ifs=$IFS
	IFS=:
	set -f
	for _d in $PATH; do
		case $_d in /*) ;; *) continue ;; esac
		if [ -f "$_d/$1" ] && [ -x "$_d/$1" ]; then
			IFS=$_ifs
			set +f
			printf '%s\n' "$_d/$1"
			return 0
		fi
	done
	IFS=$_ifs
	set +f
	return 1
}

# userspec: chroot $1 can switch user (GNU coreutils' --userspec).
userspec() {
	case $("$1" --help 2>&1 || :) in
	*--userspec*) return 0 ;;
	esac
	return 1
}

# q appends its argument to $words, quoted so that eval reads it back as
# one word, whatever it holds (spaces, quotes, $, newlines).
q() {
	_in=$1 _out=
	while :; do
		case $_in in
		*\'*)
			_out=$_out${_in%%\'*}"'\\''"
			_in=${_in#*\'}
			;;
		*)
			_out=$_out$_in
			break
			;;
		esac
	done
	words="$words '$_out'"
}

# add_env FLAG NAME=VALUE: NAME is letters, digits and _ (not a digit
# first), or env could read the word as its program or an option.
# Variables that would act on proot or chroot themselves (LD_PRELOAD …) go
# to the container's shell.
add_env() {
	case $2 in
	*=*) ;;
	*) cut "$2" && usage "$1 $_cut: want NAME=VALUE" ;;
	esac
	case ${2%%=*} in
	'' | [!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_]* | *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_]*)
		cut "$2" && usage "$1 $_cut: want NAME=VALUE with a NAME of letters, digits and _ (not starting with a digit)"
		;;
	esac
	words=
	q "$2"
	case ${2%%=*} in
	{{.Sensitive}}) extra_guest=$extra_guest$words ;;
	*) extra_env=$extra_env$words ;;
	esac
	extra_all=$extra_all$words
}

# trim_line drops a line's final CR (a file written on Windows) and its
# leading blanks, in $_l: the defaults file and --env-file read alike.
trim_line() {
	_l=${_l%"$cr"}
	while :; do
		case $_l in
		[" $tab"]*) _l=${_l#?} ;;
		*) break ;;
		esac
	done
}

# env_file FILE: docker's --env-file: NAME=VALUE lines (the value as it
# is), # comments, blank lines; a bare NAME takes this shell's value (or is
# left out when unset).
env_file() {
	[ -r "$1" ] && [ ! -d "$1" ] || usage "--env-file $1: no readable file there"
	# A device never ends (/dev/zero) or waits for typing (a terminal); a
	# pipe (--env-file <(…)) is read.
	[ ! -c "$1" ] && [ ! -b "$1" ] || usage "--env-file $1: a device, not a file of NAME=VALUE lines"
	while IFS= read -r _l || [ -n "$_l" ]; do
		trim_line
		case $_l in
		'' | '#'*) continue ;;
		*=*) add_env "--env-file $1:" "$_l" ;;
		*)
			while :; do
				case $_l in
				*[" $tab"]) _l=${_l%?} ;;
				*) break ;;
				esac
			done
			case $_l in
			[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_]* | *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_]*)
				cut "$_l" && usage "--env-file $1: $_cut: want NAME=VALUE or NAME, a NAME of letters, digits and _ (not starting with a digit)"
				;;
			esac
			eval "_v=\${$_l-}; _set=\${$_l+1}"
			[ -z "$_set" ] || add_env "--env-file $1:" "$_l=$_v"
			;;
		esac
	done <"$1"
}

# id_ok ID: a decimal user or group id (digits only, at most 10 of them),
# at most 2^32-2.
id_ok() {
	case $1 in
	'' | *[!0123456789]*) return 1 ;;
	???????????*) return 1 ;;
	??????????) ;;
	*) return 0 ;;
	esac
	_d=$1 _m=4294967294
	while [ -n "$_d" ]; do
		_a=${_d%"${_d#?}"} _b=${_m%"${_m#?}"}
		[ "$_a" = "$_b" ] || { [ "$_a" -lt "$_b" ]; return; }
		_d=${_d#?} _m=${_m#?}
	done
}

# name_ok NAME: a user or group name no program reads as an option.
name_ok() {
	case ${1%\$} in
	'' | [!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_]* | *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-]*) return 1 ;;
	esac
}

# user_db FILE: the rootfs's /etc/FILE, if it is a regular file reached
# through no symlink (an image's link could name a host file, or a FIFO
# that never ends), read into $_text. At most 4 MiB of it, as rootfs-pull
# reads: a bigger one (an image's, or a container's: it can write it) is
# refused, and one growing meanwhile is cut there.
user_db() {
	_db=$rootfs/etc/$1 _f=$1 _text=
	[ ! -L "$rootfs/etc" ] && [ ! -L "$_db" ] && [ -f "$_db" ] || return 1
	set -f
	set -- $(ls -lnd -- "$_db" 2>/dev/null)
	set +f
	case ${5-} in
	'' | *[!0123456789]*) usage "$user_set: cannot tell the size of the image's /etc/$_f" ;;
	????????*) ;;
	*) [ "$5" -gt 4194304 ] || {
		_text=$(head -c 4194304 -- "$_db")
		return 0
	} ;;
	esac
	usage "$user_set: the image's /etc/$_f is larger than 4 MiB (all rootfs-pull reads of it): not read"
}

# set_user FLAG NAME|UID[:GROUP|GID]: the user docker run -u would give,
# through the rootfs's /etc/passwd and /etc/group, read when it starts.
set_user() {
	_u=${2%%:*} _g=
	case $2 in *:*) _g=${2#*:} ;; esac
	case $2 in
	*:*:* | :* | *:) usage "$1 $2: want NAME, UID, NAME:GROUP or UID:GID" ;;
	esac
	for _x in "$_u" ${_g:+"$_g"}; do
		id_ok "$_x" || name_ok "$_x" || usage "$1 $2: want NAME, UID, NAME:GROUP or UID:GID (names of letters, digits, _ . -; ids below 2^32-1)"
	done
	uid= gid=0 groups= home=/ _name=
	if user_db passwd; then
		while IFS=: read -r _n _p _i _gi _c _h _s || [ -n "$_n" ]; do
			id_ok "$_i" && id_ok "$_gi" || continue
			# A number is a uid, never a name (docker run -u 1000): an
			# image's user NAMED 1000 may have uid 0.
			if id_ok "$_u"; then [ "$_i" = "$_u" ]; else [ "$_n" = "$_u" ]; fi || continue
			uid=$_i gid=$_gi _name=$_n
			[ -z "$_h" ] || home=$_h
			break
		done <<-EOF
		$_text
		EOF
	fi
	if [ -z "$uid" ]; then
		id_ok "$_u" || usage "$1 $2: no user $_u in the image's /etc/passwd"
		uid=$_u
	fi
	if [ -n "$_g" ]; then
		if id_ok "$_g"; then
			gid=$_g
		else
			_found=
			if user_db group; then
				while IFS=: read -r _n _p _i _m || [ -n "$_n" ]; do
					if [ "$_n" = "$_g" ] && id_ok "$_i"; then
						gid=$_i _found=1
						break
					fi
				done <<-EOF
				$_text
				EOF
			fi
			[ -n "$_found" ] || usage "$1 $2: no group $_g in the image's /etc/group"
		fi
		user_gid=1
	fi
	if [ -n "$_name" ] && user_db group; then
		while IFS=: read -r _n _p _i _m || [ -n "$_n" ]; do
			id_ok "$_i" && [ "$_i" != "$gid" ] || continue
			case ,$_m, in *,"$_name",*) groups=$groups,$_i ;; esac
		done <<-EOF
		$_text
		EOF
	fi
}

# add_volume FLAG HOST[:CONTAINER][:ro|rw] [MODE]: checks it now, a missing
# HOST included; the container's side is made when the runtime is known.
# MODE rro (Android's directories under chroot and ruri): recursive, and
# read-only on top.
add_volume() {
	case $2 in
	*:*:*:*) usage "$1 $2: want HOST[:CONTAINER][:ro] (no : in the paths)" ;;
	esac
	_h=${2%%:*} _c= _m=rw
	case $2 in
	*:*:*) _c=${2#*:} _m=${_c#*:} _c=${_c%%:*} ;;
	*:ro | *:rw) _m=${2#*:} ;;
	*:*) _c=${2#*:} ;;
	esac
	case $_m in
	ro | rw) ;;
	*) usage "$1 $2: the last part must be ro or rw" ;;
	esac
	[ -n "$_h" ] || usage "$1 $2: HOST is empty"
	[ -e "$_h" ] || usage "$1 $2: $_h does not exist on the host"
	case $_h in
	/*) ;;
	*) _h=$PWD/$_h ;;
	esac
	[ -n "$_c" ] || _c=$_h
	case $_c in
	/*) ;;
	*) usage "$1 $2: CONTAINER must be an absolute path" ;;
	esac
	case $_c/ in
	*/../*) usage "$1 $2: CONTAINER must not hold .." ;;
	esac
	case $_c in
	*[!/.]*) ;;
	*) usage "$1 $2: CONTAINER cannot be /" ;;
	esac
	words=
	q "$1 $2"
	q "$_h"
	q "$_c"
	q "${3:-$_m}"
	volumes=$volumes$words
}

# target WHAT PATH KIND: makes PATH (absolute, in the container) exist in
# the rootfs, a directory or (KIND file) an empty file, one component at
# a time, and sets $target to it, cleaned. A component that is a symlink
# is refused: the image's link (/src -> /etc, ../../x) would lead the
# mkdir, and the bind, outside the rootfs. Under proot a part it cannot
# make is left to proot (it shows the bind anyway).
target() {
	_rest=${2#/} _p=$rootfs target=
	_in=$(cd -P -- "$rootfs" 2>/dev/null && pwd -P) || _in=$rootfs
	while [ -n "$_rest" ]; do
		_c=${_rest%%/*}
		case $_rest in
		*/*) _rest=${_rest#*/} ;;
		*) _rest= ;;
		esac
		case $_c in '' | .) continue ;; esac
		_p=$_p/$_c target=$target/$_c
		[ ! -L "$_p" ] || usage "$1: $target is a symlink in the rootfs: refusing to follow it (name the path it leads to)"
		if [ -z "${ROOTFS_DRY_RUN:-}" ]; then
			if [ -n "${_rest#/}" ] || [ "$3" = dir ]; then
				[ -d "$_p" ] || mk dir "$_c" || [ "$runtime" = proot ] ||
					die "$1: cannot make $target in the rootfs"
			elif [ ! -e "$_p" ]; then
				mk file "$_c" || [ "$runtime" = proot ] ||
					die "$1: cannot make $target in the rootfs"
			fi
			[ ! -L "$_p" ] || usage "$1: $target is a symlink in the rootfs: refusing to follow it"
		fi
		_in=$_in/$_c
	done
}

# mk dir|file NAME: makes NAME (a directory, or an empty file) in $_in, the
# rootfs's directory target has reached, from inside it: one swapped for a
# symlink since it was checked (by a container of this rootfs, running)
# leads cd elsewhere, which pwd -P shows, and nothing is made.
mk() (
	cd -P -- "$_in" && [ "$(pwd -P)" = "$_in" ] || exit 1
	if [ "$1" = dir ]; then mkdir -- "$2"; else set -C && : >"$2"; fi
) 2>/dev/null

# volume_words: each volume's words for the runtime, after target.
volume_words() {
	[ -n "$volumes" ] || return 0
	eval "set -- $volumes"
	while [ $# -ge 4 ]; do
		_kind=file
		[ ! -d "$2" ] || _kind=dir
		target "$1" "$3" "$_kind"
		if [ "$_kind" = dir ] && [ -e "$rootfs$target" ] && [ ! -d "$rootfs$target" ]; then
			usage "$1: $target is not a directory in the rootfs, $2 is one"
		fi
		case $runtime in
		proot)
			[ "$4" = rw ] || usage "$1: proot cannot bind read-only (chroot and ruri can, as root): drop :ro"
			# proot splits HOST:GUEST at the first ':': it would bind the
			# directory named by the part before it.
			case $2 in *:*) usage "$1: proot cannot bind $2: it reads the ':' in it as HOST:GUEST's separator (use a path without one)" ;; esac
			q -b
			q "$2:$target"
			;;
		chroot)
			q --volume
			q "$2"
			q "$target"
			q "$4"
			;;
		ruri)
			if [ "$4" = rw ]; then q -m; else q -M; fi
			q "$2"
			q "$target"
			;;
		esac
		shift 4
	done
}

# The defaults file comes first, then the arguments. It holds options
# only, one a line: the option, then its value (the rest of the line; a
# leading ~/ is $HOME/). Read as words, never run as shell.
cr=$(printf '\r') tab=$(printf '\t') nl='
'

defaults="$here/"{{q .Defaults}}
if [ "${1-}" = --no-defaults ]; then
	shift
elif [ -e "$defaults" ] || [ -L "$defaults" ]; then
	[ -f "$defaults" ] && [ ! -L "$defaults" ] && [ -r "$defaults" ] ||
		die "$defaults is not a readable regular file (a symlink?): remove it, or use --no-defaults"
	words=
	while IFS= read -r _l || [ -n "$_l" ]; do
		trim_line
		case $_l in
		'' | '#'*) continue ;;
		-*) ;;
		*) cut "$_l" && usage "$defaults: $_cut: want an option, one a line (a command goes on the command line)" ;;
		esac
		# The option, then its value: the rest of the line after blanks,
		# or after = (--env=A=a b is A="a b").
		_o=${_l%%[" $tab"]*}
		_v=${_l#"$_o"}
		while :; do
			case $_v in
			[" $tab"]*) _v=${_v#?} ;;
			*) break ;;
			esac
		done
		_has=$_v
		case $_o in
		--*=*)
			_v=${_l#*=} _o=${_o%%=*} _has=1
			;;
		esac
		case $_o in
		--no-defaults | -h | --help | --) usage "$defaults: $_o cannot be a default" ;;
		-e | --env | --env-file | --entrypoint | -v | --volume | -u | --user | -w | --workdir | --hostname | --kernel-release)
			# Not the first word of the command line.
			[ -n "$_has" ] || usage "$defaults: $_o needs a value on its line"
			;;
		-p | --fix-low-ports | --bind-storage | --shared-tmp | --shared-home | --shared-x11 | --isolated | --no-link2symlink | --no-sysvipc | --no-kill-on-exit)
			# A word after it would be the container's command.
			[ -z "$_has" ] || usage "$defaults: $_o takes no value (a # comment goes on a line of its own)"
			;;
		esac
		q "$_o"
		[ -n "$_has" ] || continue
		case $_v in "~/"*) _v=$HOME/${_v#"~/"} ;; esac
		# A relative path is beside this file, wherever the launcher is
		# started from (which may be in the rootfs, where the image's
		# symlinks are).
		case $_o in
		-v | --volume | --env-file)
			case $_v in /* | :* | '') ;; *) _v=$here/$_v ;; esac
			;;
		esac
		q "$_v"
	done <"$defaults"
	eval "set -- $words"' "$@"'
fi

extra_env= extra_guest= extra_all= storage=${ROOTFS_BIND_STORAGE:-} user_program=
volumes= hostname= kernel= low_ports= isolated= shared= user_gid= user_set=
no_link2symlink= no_sysvipc= no_kill_on_exit=
while [ $# -gt 0 ]; do
	case $1 in
	--*=*)
		_o=${1%%=*} _v=${1#*=}
		shift
		set -- "$_o" "$_v" "$@"
		;;
	esac
	case $1 in
	-e | --env | --env-file | --entrypoint | -v | --volume | -u | --user | -w | --workdir | --hostname | --kernel-release)
		[ $# -ge 2 ] || usage "$1 needs a value (see --help)"
		;;
	esac
	case $1 in
	-e | --env)
		add_env "$1" "$2"
		shift 2
		;;
	--env-file)
		env_file "$2"
		shift 2
		;;
	--entrypoint)
		words=
		q "$2"
		entrypoint=$words cmd= user_program=1
		shift 2
		;;
	-v | --volume)
		add_volume "$1" "$2"
		shift 2
		;;
	-u | --user)
		user_set=$1\ $2
		set_user "$1" "$2"
		shift 2
		;;
	-w | --workdir)
		case $2 in
		/*) workdir=$2 ;;
		*) usage "$1 $2: want an absolute path" ;;
		esac
		shift 2
		;;
	--hostname)
		case $2 in
		'' | [!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789]* | *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-]*) usage "$1 $2: want a host name (letters, digits, . and -, not starting with - or .)" ;;
		esac
		[ ${#2} -le 64 ] || usage "$1 $2: at most 64 characters"
		hostname=$2
		shift 2
		;;
	--kernel-release)
		case $2 in
		'' | [!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789]* | *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.+_-]*) usage "$1 $2: want a release like 6.1.0 (letters, digits, . + _ -)" ;;
		esac
		[ ${#2} -le 64 ] || usage "$1 $2: at most 64 characters"
		kernel=$2
		shift 2
		;;
	-p | --fix-low-ports)
		low_ports=$1
		shift
		;;
	--bind-storage)
		storage=1
		shift
		;;
	--shared-tmp | --shared-home | --shared-x11)
		shared="$shared $1"
		shift
		;;
	--isolated)
		isolated=1
		shift
		;;
	--no-link2symlink)
		no_link2symlink=1
		shift
		;;
	--no-sysvipc)
		no_sysvipc=1
		shift
		;;
	--no-kill-on-exit)
		no_kill_on_exit=1
		shift
		;;
	-h | --help)
		sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	--)
		shift
		break
		;;
	-*) usage "unknown option $1 (see --help)" ;;
	*) break ;;
	esac
done

# The container's command: Entrypoint + arguments, or Entrypoint + Cmd.
if [ $# -gt 0 ]; then
	[ -n "$entrypoint" ] || user_program=1
	words=$entrypoint
	for a; do q "$a"; done
	command=$words
elif [ -n "$entrypoint$cmd" ]; then
	command="$entrypoint $cmd"
else
	echo "$me: the image names no command: starting /bin/sh" >&2
	command=/bin/sh
fi

# Its program must not start with -: proot has no -- to end its options,
# and would read it and the words after it as its own ("-r / /bin/sh" runs
# the host's sh on the host's files). chroot and ruri are held to the same.
eval "set -- $command"
case ${1-} in
-*)
	[ -z "$user_program" ] || usage "$1: the program to run cannot start with - (proot, chroot and ruri would read it as their own option): name it by its path"
	die "the image's command starts with -: refusing to run it (proot would read it as its own option)"
	;;
esac

[ -d "$rootfs" ] || die "no rootfs at $rootfs (move it together with this script)"
grep -Eq '"status": *"ready"' "$rootfs/.rootfs-pull/state.json" 2>/dev/null ||
	die "$rootfs is incomplete (an interrupted pull?): run rootfs-pull again to finish it"

# The container's environment: nothing from the host but TERM.
words=
[ -n "${TERM:-}" ] && q "TERM=$TERM"
{{- .EnvLines}}
env_words="$words$extra_env"
words=
{{- range .GuestEnv}}
q {{q .}}
{{- end}}
guest_env="$words$extra_guest"

# guest_words appends what makes the container's /bin/sh set $guest_env
# inside, just before the command (nothing when it is empty).
guest_words() {
	[ -n "$guest_env" ] || return 0
	if [ -e "$rootfs/bin/sh" ] || [ -L "$rootfs/bin/sh" ]; then
		q /bin/sh
		q -c
		q {{q .GuestProg}}
		q sh
		words="$words $guest_env"
		q --
	else
		echo "$me: the rootfs has no /bin/sh to set LD_*/PROOT_*-like variables inside: left out" >&2
	fi
}

# user_words appends the runtime's options for the user (the image's, or
# -u/--user's).
user_words() {
	case $runtime in
	proot)
		if [ "$uid" = 0 ]; then
			q -0
		else
			q -i
			q "$uid:$gid"
		fi
		;;
	chroot)
		# +ID: GNU chroot looks a bare number up as a NAME first, in the
		# rootfs's passwd and group (a user named 1000 may have uid 0).
		if [ "$uid" != 0 ] || [ "$gid" != 0 ]; then
			q "--userspec=+$uid:+$gid"
			_gs=+$gid _r=$groups
			while [ -n "$_r" ]; do
				_r=${_r#,}
				_gs=$_gs,+${_r%%,*}
				_r=${_r#"${_r%%,*}"}
			done
			q "--groups=$_gs"
		fi
		;;
	ruri)
		[ "$uid" = 0 ] || { q -E; q "$uid"; } ;;
	esac
}

runtime=${ROOTFS_RUNTIME:-{{q .Cfg.Runtime}}}
if [ "$runtime" = auto ]; then
	if [ "$(id -u)" = 0 ]; then
		if prog ruri >/dev/null; then runtime=ruri; else runtime=chroot; fi
	else
		runtime=proot
	fi
fi

# What only some runtimes can do is refused, in one line, by the others.
case $runtime in
chroot | ruri)
	[ -z "$kernel" ] || usage "--kernel-release: $runtime shows the host's kernel; only proot can fake it (ROOTFS_RUNTIME=proot)"
	[ -z "$low_ports" ] || usage "$low_ports: only proot moves ports; under $runtime the container runs as root, where every port binds"
	;;
esac
[ "$runtime" != ruri ] || [ -z "$user_gid" ] ||
	usage "$user_set: ruri sets only the user (its group comes from the image's /etc/passwd): use -u USER, or ROOTFS_RUNTIME=chroot or proot"

# Android (the same signs rootfs-pull reads): Termux's and Android's own
# directories are shown inside, unless --isolated.
android=
if [ -e "$android_root/system/bin/linker64" ] || [ -e "$android_root/system/bin/linker" ] ||
	[ -e "$android_root/system/build.prop" ] || [ -n "${ANDROID_ROOT:-}" ] || [ -n "${ANDROID_DATA:-}" ]; then
	android=1
fi
case ${PREFIX:-} in /data/data/com.termux/*) android=1 ;; esac

# --shared-*, and Android's binds, are volumes before the user's own.
user_volumes=$volumes volumes=
shared_tmp=/tmp
[ -z "${PREFIX:-}" ] || [ ! -d "$android_root$PREFIX/tmp" ] || shared_tmp=$android_root$PREFIX/tmp
for s in $shared; do
	case $s in
	--shared-tmp) add_volume "$s" "$shared_tmp:/tmp" ;;
	--shared-x11)
		[ -d "$shared_tmp/.X11-unix" ] || usage "$s: $shared_tmp/.X11-unix does not exist (start the X server, e.g. termux-x11, first)"
		# A container given this /tmp (--shared-tmp) can leave a symlink
		# there, to any directory of the host: the runtimes would bind that.
		[ ! -L "$shared_tmp/.X11-unix" ] || usage "$s: $shared_tmp/.X11-unix is a symlink (a container sharing this /tmp could have made it): not binding what it names"
		add_volume "$s" "$shared_tmp/.X11-unix:/tmp/.X11-unix"
		;;
	--shared-home)
		[ -n "${HOME:-}" ] && [ -d "$HOME" ] || usage "$s: \$HOME is not a directory here"
		add_volume "$s" "$HOME:$home"
		;;
	esac
done
# Under chroot and ruri they are read-only: a container user is an
# Android uid too (1000 is AID_SYSTEM, which owns /data/app and
# /data/dalvik-cache), and what it wrote there would stay in the phone's
# apps. (proot cannot bind read-only; there the container is Termux's own
# user, which cannot write them but for $PREFIX.)
android_mode=rro
[ "$runtime" != proot ] || android_mode=
if [ -n "$android" ] && [ -z "$isolated" ]; then
	for d in ${PREFIX:+"$PREFIX"} /system /apex /vendor /odm /product /system_ext /data/app /data/dalvik-cache \
		/linkerconfig/ld.config.txt /linkerconfig/com.android.art/ld.config.txt /plat_property_contexts /property_contexts; do
		case $d in *:*) continue ;; esac
		# (sh reads "a && b || c && d" as "((a && b) || c) && d")
		if { [ -d "$android_root$d" ] && [ -x "$android_root$d" ]; } || { [ -f "$android_root$d" ] && [ -r "$android_root$d" ]; }; then
			add_volume "(Android's $d; --isolated leaves it out)" "$android_root$d:$d" $android_mode
		fi
	done
fi
volumes=$volumes$user_volumes

qemu=
if [ -n "$qemu_arch" ]; then
	for c in "qemu-$qemu_arch-static" "qemu-$qemu_arch"; do
		qemu=$(prog "$c") && break
		qemu=
	done
	[ -n "$qemu" ] || [ "$runtime" = chroot ] ||
		die "this $platform rootfs needs qemu-$qemu_arch to run here: install qemu-user-static (Debian, Ubuntu) or qemu-user-$qemu_arch (Termux: pkg install qemu-user-$qemu_arch)"
fi

# dry prints name for a dry run (ROOTFS_DRY_RUN) when it is not installed.
dry() {
	[ -n "${ROOTFS_DRY_RUN:-}" ] && echo "$1"
}

run() {
	if [ -n "${ROOTFS_DRY_RUN:-}" ]; then
		shown "$words"
		exit 0
	fi
	eval "set -- $words"
	exec "$@"
}

case $runtime in
proot)
	proot=$(prog proot) || proot=$(dry proot) || die "proot is not installed: pkg install proot (Termux) or apt install proot"
	words=
	q "$(prog env || echo env)"
	q -i
	q --
	# proot's own settings (Termux's loader and temporary directory).
	for v in PROOT_TMP_DIR PROOT_LOADER PROOT_LOADER_32 PROOT_NO_SECCOMP LD_LIBRARY_PATH; do
		eval "[ -n \"\${$v:-}\" ] && q \"$v=\${$v}\"" || :
	done
	[ -n "${PROOT_TMP_DIR:-}" ] || [ -z "${TMPDIR:-}" ] || q "PROOT_TMP_DIR=$TMPDIR"
	words="$words $env_words"
	q "$proot"
{{words (rest .Proot)}}	help=$("$proot" --help 2>&1 || :)
	case $help in *--link2symlink*) [ -n "$no_link2symlink" ] || q --link2symlink ;; esac
	case $help in *--kill-on-exit*) [ -n "$no_kill_on_exit" ] || q --kill-on-exit ;; esac
	case $help in *--sysvipc*) [ -n "$no_sysvipc" ] || q --sysvipc ;; esac
	# -L: lstat's size of a symlink is its target's length (dpkg checks).
	case $help in *"$nl  -L$nl"* | *"$nl  -L,"*) q -L ;; esac
	if [ -n "$low_ports" ]; then
		case $help in
		*"$nl  -p$nl"* | *"$nl  -p,"*) q -p ;;
		*) [ "$(id -u)" = 0 ] || die "$low_ports: $proot cannot move ports (Termux's proot can: pkg install proot); here a port below 1024 needs root" ;;
		esac
	fi
	# uname: --kernel-release (on Android a recent one by default, so a new
	# glibc does not stop with "FATAL: kernel too old": with Termux's proot,
	# as proot-distro does; not through qemu, whose guest asks qemu, and
	# where other proot builds fail with -k), --hostname.
	release=$kernel
	if [ -z "$release" ] && [ -n "$android" ] && [ -z "$qemu" ]; then
		case $help in *--link2symlink*) release=$kernel_default ;; esac
	fi
	if [ -n "$hostname" ]; then
		[ -n "$release" ] || release=$(uname -r)
		machine=$(uname -m)
		case $qemu_arch in
		'') ;;
		i386) machine=i686 ;;
		arm) machine=armv7l ;;
		*) machine=$qemu_arch ;;
		esac
		version=$(uname -v)
		case $release$version$machine in *\\*) die "the host's uname holds a backslash: cannot fake --hostname" ;; esac
		q -k
		q "\\Linux\\$hostname\\$release\\$version\\$machine\\(none)\\-1\\"
	elif [ -n "$release" ]; then
		q -k
		q "$release"
	fi
	# The rootfs's own files bound below: proot splits a bind at the first
	# ':', so a rootfs path holding one would bind another directory.
	rootfs_binds=1
	case $rootfs in
	*:*)
		rootfs_binds=
		echo "$me: the rootfs's path holds a ':', which proot reads as a separator: no /dev/shm and no /proc stand-ins (move it to a path without one)" >&2
		;;
	esac
	# The rootfs's /tmp as /dev/shm. proot binds what a symlink there names
	# on the host: the image (changed since the pull, maybe) must not choose.
	if [ -z "$rootfs_binds" ]; then
		:
	elif [ -d "$rootfs/tmp" ] && [ ! -L "$rootfs/tmp" ]; then
		q -b
		q "$rootfs/tmp:/dev/shm"
	else
		echo "$me: $rootfs/tmp is not a directory (a symlink?): no /dev/shm in the container" >&2
	fi
	# Android >= 8 hides these from apps: show the rootfs's stand-ins (not
	# through a symlink, for the same reason).
	for f in loadavg stat uptime version vmstat sys/kernel/cap_last_cap sys/fs/inotify/max_user_watches \
		sys/kernel/overflowuid sys/kernel/overflowgid; do
		n=$f
		while :; do
			case $n in
			*/*) n=${n%%/*}.${n#*/} ;;
			*) break ;;
			esac
		done
		if [ -n "$rootfs_binds" ] && ! cat "$android_root/proc/$f" >/dev/null 2>&1 && [ -f "$rootfs/.rootfs-pull/proc/$n" ] &&
			[ ! -L "$rootfs/.rootfs-pull" ] && [ ! -L "$rootfs/.rootfs-pull/proc" ] && [ ! -L "$rootfs/.rootfs-pull/proc/$n" ]; then
			q -b
			q "$rootfs/.rootfs-pull/proc/$n:/proc/$f"
		fi
	done
	# Android: SELinux off, as far as the container can tell (an empty
	# /sys/fs/selinux), and /dev/std* where the phone has none.
	if [ -n "$rootfs_binds" ] && [ -n "$android" ] && [ -d "$android_root/sys/fs/selinux" ] && [ -d "$rootfs/.rootfs-pull/empty" ] &&
		[ ! -L "$rootfs/.rootfs-pull" ] && [ ! -L "$rootfs/.rootfs-pull/empty" ]; then
		q -b
		q "$rootfs/.rootfs-pull/empty:/sys/fs/selinux"
	fi
	for f in 0:stdin 1:stdout 2:stderr; do
		if [ ! -e "$android_root/dev/${f#*:}" ] && [ ! -L "$android_root/dev/${f#*:}" ]; then
			q -b
			q "/proc/self/fd/${f%%:*}:/dev/${f#*:}"
		fi
	done
	if [ -n "$storage" ]; then
		for d in /sdcard /storage; do
			[ -d "$d" ] && q -b && q "$d"
		done
	fi
	volume_words
	[ -z "$qemu" ] || { q -q; q "$qemu"; }
	guest_words
	words="$words $command"
	run
	;;
chroot)
	[ "$(id -u)" = 0 ] || die "chroot needs root: run this with su or tsu, or use ROOTFS_RUNTIME=proot"
	if [ -n "$qemu_arch" ] && [ ! -e "/proc/sys/fs/binfmt_misc/qemu-$qemu_arch" ]; then
		die "this $platform rootfs needs qemu-$qemu_arch registered with binfmt_misc for chroot: use ROOTFS_RUNTIME=proot or ruri instead"
	fi
	chroot=$(prog chroot) || chroot=$(dry chroot) || die "chroot is not installed (coreutils)"
	if [ "$uid:$gid" != 0:0 ] && [ -z "${ROOTFS_DRY_RUN:-}" ] && ! userspec "$chroot"; then
		# toybox's chroot (Android's /system/bin) and busybox's cannot
		# switch user; Termux's coreutils can, also under su.
		for c in "${PREFIX:-}/bin/chroot" {{q .TermuxChroot}}; do
			case $c in /*) ;; *) continue ;; esac
			if [ -f "$c" ] && [ -x "$c" ] && userspec "$c"; then
				chroot=$c
				break
			fi
		done
		userspec "$chroot" || die "$chroot cannot start the container as user $uid:$gid (no --userspec: toybox's or busybox's chroot): install coreutils (Termux: pkg install coreutils) or ruri, or use ROOTFS_RUNTIME=proot"
	fi
	sh=$(prog sh) || sh={{q .Shell}}
	unshare=$(prog unshare) || unshare=$(dry unshare) || die "chroot needs unshare (util-linux, or toybox on Android) to keep its mounts private: install it, or use ROOTFS_RUNTIME=ruri or proot"
	# /proc, /sys, /dev, /dev/pts and /dev/shm are mounted in a private
	# mount namespace: they vanish when the container ends, however it
	# ends, and two shells on one rootfs never unmount each other's.
	for d in proc sys dev; do
		[ -d "$rootfs/$d" ] && [ ! -L "$rootfs/$d" ] || die "$rootfs/$d is not a directory: refusing to mount over it"
	done
	words=
	q "$unshare"
	q -m
	[ -z "$hostname" ] || q -u
	q "$sh"
	q -c
	q 'set -e
		mount --make-rprivate / 2>/dev/null || mount -o rprivate none / 2>/dev/null || {
			echo "$0: cannot make the mount namespace private (needed to keep mounts off the host): use ROOTFS_RUNTIME=ruri or proot" >&2
			exit 1
		}
		LC_ALL=C
		r=$(cd -P -- "$1" && pwd -P)
		shift
		# Every mount must land in the rootfs. A mount point there swapped
		# for a symlink after the launcher looked at it (by a container of
		# this rootfs, running now as a user who owns its directory) would
		# put the mount on the host, in this namespace: over the programs
		# it runs next (mount, hostname, env, chroot), as root. So each
		# mount is checked in /proc/self/mountinfo before anything runs.
		nl="
"
		tab=$(printf "\t")
		esc() { # $1 as mountinfo writes a path, in $_o
			_s=$1 _o=
			while [ -n "$_s" ]; do
				_c=${_s%"${_s#?}"}
				_s=${_s#?}
				case $_c in
				"\\") _o="$_o\\134" ;;
				" ") _o="$_o\\040" ;;
				"$tab") _o="$_o\\011" ;;
				"$nl") _o="$_o\\012" ;;
				*) _o=$_o$_c ;;
				esac
			done
		}
		[ -r /proc/self/mountinfo ] || {
			echo "$0: no /proc/self/mountinfo to check the mounts with" >&2
			exit 1
		}
		ids=" "
		while read -r _id _x; do ids="$ids$_id "; done </proc/self/mountinfo
		esc "$r"
		re=$_o
		landed() { # every mount made since is in the rootfs
			_bad=
			while read -r _id _p _d _root _mp _x; do
				case $ids in *" $_id "*) continue ;; esac
				case $_mp in "$re"/*) continue ;; esac
				_bad=1
				break
			done </proc/self/mountinfo
			[ -z "$_bad" ] || {
				echo "$0: a mount meant for the rootfs landed outside it (a mount point swapped for a symlink, by a container of this rootfs running now?): stopping" >&2
				exit 1
			}
		}
		read_only() { # the mount on $r$1 (the last one there) is read-only
			esc "$r$1"
			_ro=
			while read -r _id _p _d _root _mp _opts _x; do
				[ "$_mp" = "$_o" ] || continue
				case ,$_opts, in *,ro,*) _ro=1 ;; *) _ro= ;; esac
			done </proc/self/mountinfo
			[ -n "$_ro" ] || {
				echo "$0: a read-only volume is not read-only (its mount point swapped for a symlink, by a container of this rootfs running now?): stopping" >&2
				exit 1
			}
		}
		# A bind is made read-only by a remount of that bind alone, which
		# util-linux and busybox can do; toybox (su on a phone) cannot: its
		# "-o remount,bind,ro" remounts the whole filesystem read-only, for
		# every process.
		case $(mount --help 2>&1) in *--rbind* | *BusyBox*) ro_ok=1 ;; *) ro_ok= ;; esac
		mount -t proc proc "$r/proc"
		landed
		mount -o rbind /sys "$r/sys"
		landed
		mount -o rbind /dev "$r/dev"
		landed
		[ -e "$r/dev/pts/ptmx" ] || mount -t devpts devpts "$r/dev/pts" 2>/dev/null || :
		landed
		[ -d "$r/dev/shm" ] && mount -t tmpfs -o mode=1777,nosuid,nodev shm "$r/dev/shm" || :
		landed
		while [ "$1" = --volume ]; do
			case $4 in
			ro)
				# Only the directory, not what is mounted below it (that
				# would stay writable).
				[ -n "$ro_ok" ] || {
					echo "$0: this mount (toybox?) cannot make one bind read-only (it would make the whole filesystem read-only): drop :ro, use ROOTFS_RUNTIME=ruri, or put util-linux or busybox mount first in PATH" >&2
					exit 1
				}
				mount -o bind "$2" "$r$3"
				landed
				mount -o remount,bind,ro "$r$3"
				read_only "$3"
				;;
			rro)
				# For Android: all of it, read-only on top where the mount
				# can. Where it cannot (toybox), what a container user may
				# write (AID_SYSTEM, uid 1000: the apps) is left out, the
				# rest bound as it is.
				if [ -z "$ro_ok" ]; then
					case $3 in /data/app | /data/dalvik-cache)
						shift 4
						continue
						;;
					esac
				fi
				mount -o rbind "$2" "$r$3"
				landed
				if [ -n "$ro_ok" ]; then
					mount -o remount,bind,ro "$r$3"
					read_only "$3"
				fi
				;;
			*)
				mount -o rbind "$2" "$r$3"
				landed
				;;
			esac
			shift 4
		done
		if [ "$1" = --hostname ]; then
			hostname "$2"
			shift 2
		fi
		exec "$@"'
	q "$me"
	q "$rootfs"
	volume_words
	[ -z "$hostname" ] || { q --hostname; q "$hostname"; }
	q "$(prog env || echo env)"
	q -i
	q --
	words="$words $env_words"
	q "$chroot"
{{words (rest .Chroot)}}	[ "$workdir" = / ] || { q /bin/sh; q -c; q 'cd "$0" && exec "$@"'; q "$workdir"; }
	guest_words
	words="$words $command"
	run
	;;
ruri)
	ruri=$(prog ruri) || ruri=$(dry ruri) || die "ruri is not installed: see https://github.com/RuriOSS/ruri"
	words=
	q "$ruri"
{{words (rest .Ruri)}}	[ -n "${TERM:-}" ] && { q -e; q TERM; q "$TERM"; }
	eval "set -- $extra_all"
	for kv; do q -e; q "${kv%%=*}"; q "${kv#*=}"; done
	if [ -n "$storage" ] && [ -d /sdcard ]; then q -m; q /sdcard; q /sdcard; fi
	volume_words
	[ -z "$hostname" ] || { q -u; q -t; q "$hostname"; }
	[ -z "$qemu" ] || { q -a; q "$qemu_arch"; q -q; q "$qemu"; }
	q "$rootfs"
	words="$words $command"
	echo "$me: ruri leaves its mounts in place: unmount with  ruri -U $rootfs" >&2
	run
	;;
*) die "ROOTFS_RUNTIME=$runtime: want proot, chroot, ruri or auto" ;;
esac
`))

// groupsWord is the script's $groups: ",GID,GID" of u's supplementary groups.
func groupsWord(u User) string {
	var b strings.Builder
	for _, g := range u.Groups {
		fmt.Fprintf(&b, ",%d", g)
	}
	return b.String()
}
