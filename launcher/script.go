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
		"Name":       filepath.Base(path),
		"Shell":      host.Shell(),
		"Cfg":        cfg,
		"Rootfs":     rootfsExpr,
		"Entrypoint": Quote(QuoteArgs(cfg.Entrypoint)),
		"Cmd":        Quote(QuoteArgs(cfg.Cmd)),
		"Env":        runtimeEnv,
		"GuestEnv":   guest,
		"GuestProg":  guestEnvProg,
		"Sensitive":  shSensitive(),
		"Proot":      cfg.argv(Proot),
		"Chroot":     cfg.argv(Chroot),
		"ChrootUser": fmt.Sprintf("%d:%d", cfg.User.UID, cfg.User.GID),
		// Termux's coreutils, where su's PATH does not lead.
		"TermuxChroot": android.TermuxPrefix + "/bin/chroot",
		"Ruri":         cfg.argv(Ruri),
		"Escapes":      escapeTable,
	}
	var buf bytes.Buffer
	if err := scriptTemplate.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// shWords turns argv into `q WORD` lines, with rootfsVar as "$rootfs".
func shWords(argv []string) string {
	var b strings.Builder
	for _, w := range argv {
		if w == "" { // an empty value of ruri's -e NAME VALUE
			b.WriteString("\tq ''\n")
			continue
		}
		parts := strings.Split(w, rootfsVar)
		for i, p := range parts {
			parts[i] = Quote(p)
			if p == "" {
				parts[i] = ""
			}
		}
		fmt.Fprintf(&b, "\tq %s\n", strings.Join(parts, `"$rootfs"`))
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
# Usage: {{c .Name}} [-e NAME=VALUE]... [--entrypoint PROG] [--bind-storage] [--] [COMMAND [ARG]...]
#   COMMAND [ARG]...    replaces the image's Cmd, as docker run does
#   -e NAME=VALUE       adds or overrides an environment variable
#   --entrypoint PROG   replaces the image's Entrypoint (and drops its Cmd)
#   --bind-storage      shows Android's shared storage (/sdcard) inside
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

die() {
	printf '%s: %s\n' "$me" "$*" >&2
	exit 1
}

usage() {
	printf '%s: %s\n' "$me" "$*" >&2
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

# -e NAME=VALUE: NAME is letters, digits and _ (not a digit first), or env
# could read the word as its program or an option. Variables that would act
# on proot or chroot themselves (LD_PRELOAD …) go to the container's shell.
extra_env= extra_guest= extra_all= storage=${ROOTFS_BIND_STORAGE:-} user_program=
while [ $# -gt 0 ]; do
	case $1 in
	-e | --env)
		[ $# -ge 2 ] || usage "$1 needs NAME=VALUE"
		case $2 in
		*=*) ;;
		*) usage "$1 $2: want NAME=VALUE" ;;
		esac
		case ${2%%=*} in
		'' | [!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_]* | *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_]*)
			usage "$1 $2: want NAME=VALUE with a NAME of letters, digits and _ (not starting with a digit)"
			;;
		esac
		words=
		q "$2"
		case ${2%%=*} in
		{{.Sensitive}}) extra_guest=$extra_guest$words ;;
		*) extra_env=$extra_env$words ;;
		esac
		extra_all=$extra_all$words
		shift 2
		;;
	--entrypoint)
		[ $# -ge 2 ] || die "$1 needs a program"
		words=
		q "$2"
		entrypoint=$words cmd= user_program=1
		shift 2
		;;
	--bind-storage)
		storage=1
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
{{- range .Env}}
q {{q .}}
{{- end}}
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

runtime=${ROOTFS_RUNTIME:-{{q .Cfg.Runtime}}}
if [ "$runtime" = auto ]; then
	if [ "$(id -u)" = 0 ]; then
		if prog ruri >/dev/null; then runtime=ruri; else runtime=chroot; fi
	else
		runtime=proot
	fi
fi

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
	case $help in *--link2symlink*) q --link2symlink ;; esac
	case $help in *--kill-on-exit*) q --kill-on-exit ;; esac
	case $help in *--sysvipc*) q --sysvipc ;; esac
	# The rootfs's /tmp as /dev/shm. proot binds what a symlink there names
	# on the host: the image (changed since the pull, maybe) must not choose.
	if [ -d "$rootfs/tmp" ] && [ ! -L "$rootfs/tmp" ]; then
		q -b
		q "$rootfs/tmp:/dev/shm"
	else
		echo "$me: $rootfs/tmp is not a directory (a symlink?): no /dev/shm in the container" >&2
	fi
	# Android >= 8 hides these from apps: show the rootfs's stand-ins (not
	# through a symlink, for the same reason).
	for f in loadavg stat uptime version vmstat; do
		if ! cat "/proc/$f" >/dev/null 2>&1 && [ -f "$rootfs/.rootfs-pull/proc/$f" ] &&
			[ ! -L "$rootfs/.rootfs-pull" ] && [ ! -L "$rootfs/.rootfs-pull/proc" ] && [ ! -L "$rootfs/.rootfs-pull/proc/$f" ]; then
			q -b
			q "$rootfs/.rootfs-pull/proc/$f:/proc/$f"
		fi
	done
	if [ -n "$storage" ]; then
		for d in /sdcard /storage; do
			[ -d "$d" ] && q -b && q "$d"
		done
	fi
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
	if [ {{q .ChrootUser}} != 0:0 ] && [ -z "${ROOTFS_DRY_RUN:-}" ] && ! userspec "$chroot"; then
		# toybox's chroot (Android's /system/bin) and busybox's cannot
		# switch user; Termux's coreutils can, also under su.
		for c in "${PREFIX:-}/bin/chroot" {{q .TermuxChroot}}; do
			case $c in /*) ;; *) continue ;; esac
			if [ -f "$c" ] && [ -x "$c" ] && userspec "$c"; then
				chroot=$c
				break
			fi
		done
		userspec "$chroot" || die "$chroot cannot start the container as its user {{c .ChrootUser}} (no --userspec: toybox's or busybox's chroot): install coreutils (Termux: pkg install coreutils) or ruri, or use ROOTFS_RUNTIME=proot"
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
	q "$sh"
	q -c
	q 'set -e
		mount --make-rprivate / 2>/dev/null || mount -o rprivate none / 2>/dev/null || {
			echo "$0: cannot make the mount namespace private (needed to keep mounts off the host): use ROOTFS_RUNTIME=ruri or proot" >&2
			exit 1
		}
		r=$1
		shift
		mount -t proc proc "$r/proc"
		mount -o rbind /sys "$r/sys"
		mount -o rbind /dev "$r/dev"
		[ -e "$r/dev/pts/ptmx" ] || mount -t devpts devpts "$r/dev/pts" 2>/dev/null || :
		[ -d "$r/dev/shm" ] && mount -t tmpfs -o mode=1777,nosuid,nodev shm "$r/dev/shm" || :
		exec "$@"'
	q "$me"
	q "$rootfs"
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
	[ -z "$qemu" ] || { q -a; q "$qemu_arch"; q -q; q "$qemu"; }
	q "$rootfs"
	words="$words $command"
	echo "$me: ruri leaves its mounts in place: unmount with  ruri -U $rootfs" >&2
	run
	;;
*) die "ROOTFS_RUNTIME=$runtime: want proot, chroot, ruri or auto" ;;
esac
`))
