# pgplay's host agent: one process per host and run, started over one exec channel (one login shell, one
# become), answering framed requests on stdin/stdout until stdin closes. It uses only modules of Debian's
# perl-base. Frames both ways: u32 payload length, u32 job id, one type byte, payload. Lists of strings are
# u32-length-prefixed items. It leaves nothing behind: on end of input it stops what it started and exits. Kept
# between runs (ControlPersist), it is told a run ended instead (see detach) and waits for the next one.
# It starts once per host and run, so it loads little: POSIX, Socket and IO::Handle would triple its start-up
# CPU (about 12 ms a host); IO::Handle loads only when a file is written. Warnings are on for the whole agent
# through $^W, as perl -w does: `use warnings` would load warnings.pm, some 2 ms of CPU at every start.
use strict;
BEGIN { $^W = 1 }
use Fcntl qw(O_WRONLY O_RDWR O_CREAT O_EXCL O_RDONLY O_NOFOLLOW O_NONBLOCK F_GETFL F_SETFL LOCK_EX LOCK_NB);
use Errno qw(EINTR EAGAIN EEXIST ENOENT EXDEV ENOSYS EINVAL EINPROGRESS ETIMEDOUT ECANCELED);

# Sub-second time where the host has Time::HiRes (not part of Debian's perl-base), loaded when first asked for (a
# lock to wait for, a TCP connection's deadline, a command's end): loading it costs a start 2-3 ms of CPU. Whole
# seconds, with a second's margin, else. The watchdog counts whole seconds of time() from the start.
my $FINE_TIME;
sub fine_time { return $FINE_TIME //= eval { require Time::HiRes; 1 } ? 1 : 0 }
sub now { return fine_time() ? Time::HiRes::time() : time() }
sub margin { return fine_time() ? 0 : 1 }

my $PROTOCOL = 1;
my $MAX_READ = 256 * 1024 * 1024;
my $KILL_GRACE = 3;
sub WNOHANG () { 1 }    # Linux and the BSDs

$0 = 'pgplay-agent';
$SIG{PIPE} = 'IGNORE';
binmode STDIN;
binmode STDOUT;

my $inbuf = '';
my $outbuf = '';    # frames for the client, written together once per turn of the main loop
my %jobs;       # id => job: { kind => 'run' | 'unix' | 'tcp', ... }
my %readers;    # fileno => [id, frame type, handle]
my %pid_job;    # pid => id
my %locks;      # path => { fh, dir }, held until unlock or until the agent exits
my @waiting_locks;
my $stopping = 0;
# The watchdog: when pgplay asks for it, silence from pgplay (no frame, pings included) for this many seconds means
# pgplay is gone though the connection may not say so (a cut link): stop what runs and put back what is guarded.
my $watch = 0;
my $heard = time();

pipe(my $wake_r, my $wake_w) or die "pipe: $!";
nonblocking($wake_r);
nonblocking($wake_w);
$SIG{CHLD} = sub { syswrite($wake_w, 'c') };
$SIG{$_} = sub { $stopping = 1; syswrite($wake_w, 's') } for qw(TERM HUP INT);

sub nonblocking {
  my ($fh) = @_;
  my $flags = fcntl($fh, F_GETFL, 0);
  fcntl($fh, F_SETFL, $flags | O_NONBLOCK) if defined $flags;
}

sub put_all {
  my ($fh, $data) = @_;
  my $off = 0;
  while ($off < length $data) {
    my $n = syswrite($fh, $data, length($data) - $off, $off);
    if (!defined $n) {
      next if $! == EINTR;
      return 0;
    }
    $off += $n;
  }
  return 1;
}

sub frame {
  my ($id, $type, $data) = @_;
  $data = '' unless defined $data;
  $outbuf .= pack('NNa1', length($data), $id, $type) . $data;
  flush_frames() if length($outbuf) >= 1 << 20;
}

# One write for all the frames of a turn: one ssh packet where there were several.
sub flush_frames {
  return unless length $outbuf;
  my $data = $outbuf;
  $outbuf = '';
  stop_everything(0) unless put_all(\*STDOUT, $data);
}

sub enc { return pack('(N/a*)*', map { defined $_ ? $_ : '' } @_) }
sub answer { my ($id, @fields) = @_; frame($id, 'A', enc('ok', @fields)) }

sub errno_name {
  my ($err) = @_;
  for my $name (keys %!) { return $name if $!{$name} }
  return 'EIO';
}

sub refuse {
  my ($id, $code, $message) = @_;
  frame($id, 'A', enc('err', $code, $message));
  return;
}

sub refuse_errno { my ($id, $what) = @_; my $name = errno_name(); refuse($id, $name, "$what: $!") }

sub user_entry {
  my ($name) = @_;
  my @pw = $name =~ /^\d+$/ ? getpwuid($name) : getpwnam($name);
  return @pw ? { name => $pw[0], uid => $pw[2], gid => $pw[3], home => $pw[7], shell => $pw[8] } : undef;
}

sub group_id {
  my ($name) = @_;
  return $name if $name =~ /^\d+$/;
  my @gr = getgrnam($name);
  return @gr ? $gr[2] : undef;
}

sub name_of_uid { my @pw = getpwuid($_[0]); return @pw ? $pw[0] : $_[0] }
sub name_of_gid { my @gr = getgrgid($_[0]); return @gr ? $gr[0] : $_[0] }

# Drop to another user for good (a child about to exec): groups first, then the user ids.
sub become_for_good {
  my ($user) = @_;
  return 1 if $user->{uid} == $> && $user->{uid} == $<;
  die "the agent runs as " . name_of_uid($>) . " and cannot act as $user->{name}\n" if $> != 0;
  my @groups = ($user->{gid});
  setgrent();
  while (my @g = getgrent()) { push @groups, $g[2] if grep { $_ eq $user->{name} } split ' ', $g[3] }
  endgrent();
  $) = join(' ', $user->{gid}, @groups);
  $( = $user->{gid};
  # Effective first, then real: setting the real id while the effective one is the user's sets the saved id to it
  # too (setreuid), so there is no way back to root, even before the exec.
  $> = $user->{uid};
  $< = $user->{uid};
  die "could not become $user->{name}\n" unless $< == $user->{uid} && $> == $user->{uid};
  return 1;
}

# Follow symbolic links to the file a write should replace, so a link a user made stays a link.
sub resolve_links {
  my ($path) = @_;
  for (1 .. 40) {
    my $target = readlink($path);
    return $path unless defined $target;
    if ($target !~ m{^/}) { (my $dir = $path) =~ s{/[^/]*$}{}; $target = ($dir eq '' ? '' : $dir) . "/$target" }
    $path = $target;
  }
  return $path;
}

sub split_path { my ($path) = @_; $path =~ m{^(.*)/([^/]+)$} or return ('.', $path); return ($1 eq '' ? '/' : $1, $2) }

sub describe_stat {
  my (@st) = @_;
  my $mode = $st[2];
  my $kind = $mode & 0170000;
  my $type = $kind == 0040000 ? 'directory' : $kind == 0100000 ? 'file' : $kind == 0120000 ? 'link' : 'other';
  return ($type, sprintf('%04o', $mode & 07777), $st[4], $st[5], name_of_uid($st[4]), name_of_gid($st[5]), $st[7], $st[9], "$st[0]:$st[1]");
}

sub op_stat {
  my ($id, $path) = @_;
  my @st = stat($path);
  if (!@st) {
    return answer($id, 'dangling') if lstat($path);
    return answer($id, 'absent') if $! == ENOENT || $!{ENOTDIR};
    return refuse_errno($id, "cannot stat $path");
  }
  answer($id, 'present', describe_stat(@st));
}

sub op_read {
  my ($id, $path, $max) = @_;
  $max = $MAX_READ unless $max;
  my $fh;
  if (!sysopen($fh, $path, O_RDONLY)) {
    return answer($id, 'absent') if $! == ENOENT || $!{ENOTDIR};
    return refuse_errno($id, "cannot read $path");
  }
  my @st = stat($fh);
  return refuse($id, 'EISDIR', "cannot read $path: it is a directory") if ($st[2] & 0170000) == 0040000;
  return refuse($id, 'EFBIG', "cannot read $path: it holds $st[7] bytes, more than $max") if $st[7] > $max;
  my $content = '';
  while (1) {
    my $n = sysread($fh, $content, 1 << 20, length $content);
    if (!defined $n) { next if $! == EINTR; return refuse_errno($id, "cannot read $path") }
    last if $n == 0;
    return refuse($id, 'EFBIG', "cannot read $path: more than $max bytes") if length($content) > $max;
  }
  close($fh);
  answer($id, 'present', describe_stat(@st), $content);
}

sub op_list {
  my ($id, $path) = @_;
  opendir(my $dh, $path) or do {
    return answer($id, 'absent') if $! == ENOENT;
    return refuse_errno($id, "cannot list $path");
  };
  my @names = sort grep { $_ ne '.' && $_ ne '..' } readdir($dh);
  closedir($dh);
  answer($id, 'present', @names);
}

sub owner_ids {
  my ($owner, $group, @st) = @_;
  my ($uid, $gid) = @st ? ($st[4], $st[5]) : ($>, (split ' ', $))[0]);
  if ($owner ne '') {
    my $u = user_entry($owner) or die "no user named $owner\n";
    $uid = $u->{uid};
    $gid = $u->{gid} unless @st;
  }
  if ($group ne '') { $gid = group_id($group); die "no group named $group\n" unless defined $gid }
  return ($uid, $gid);
}

sub sync_dir { my ($dir) = @_; require IO::Handle; if (sysopen(my $dh, $dir, O_RDONLY)) { $dh->sync; close($dh) } }

# Atomic write: a temporary file beside the target, owner and mode set, flushed, then renamed over it.
sub op_write {
  my ($id, $path, $mode, $owner, $group, $content) = @_;
  my $target = resolve_links($path);
  return refuse($id, 'EISDIR', "cannot write $path: it is a directory") if -d $target;
  my @st = stat($target);
  my ($uid, $gid) = eval { owner_ids($owner, $group, @st) };
  return refuse($id, 'EINVAL', "cannot write $path: $@") if $@;
  my $perm = $mode ne '' ? oct($mode) : @st ? ($st[2] & 07777) : 0644;
  my ($dir, $base) = split_path($target);
  my $tmp = "$dir/.$base.pgplay-tmp-$$-" . int(rand(1e9));
  my $fh;
  sysopen($fh, $tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600) or return refuse_errno($id, "cannot write $path");
  require IO::Handle;
  my $ok = eval {
    put_all($fh, $content) or die "$!\n";
    if ($uid != $> || $gid != (split ' ', $))[0]) { chown($uid, $gid, $fh) or die "cannot set its owner: $!\n" }
    chmod($perm, $fh) or die "cannot set its mode: $!\n";
    $fh->sync or die "$!\n";
    close($fh) or die "$!\n";
    rename($tmp, $target) or die "$!\n";
    1;
  };
  if (!$ok) {
    my $why = $@;
    chomp $why;
    unlink($tmp);
    return refuse($id, 'EIO', "cannot write $path: $why");
  }
  sync_dir($dir);
  answer($id, 'written');
}

# The machine, from the ELF header of this perl (e_machine): no POSIX::uname.
sub machine {
  my $elf = '';
  if (open(my $fh, '<:raw', '/proc/self/exe')) { read($fh, $elf, 20); close($fh) }
  return '' unless length($elf) == 20 && substr($elf, 0, 4) eq "\x7fELF";
  my $e_machine = unpack(substr($elf, 5, 1) eq "\x02" ? 'n' : 'v', substr($elf, 18, 2));
  return { 62 => 'x86_64', 183 => 'aarch64', 3 => 'i386', 40 => 'arm', 21 => 'ppc64', 22 => 's390x', 243 => 'riscv64' }->{$e_machine} || "elf-$e_machine";
}
my $MACHINE = machine();
my ($RENAMEAT2) = { x86_64 => 316, aarch64 => 276 }->{$MACHINE};

# Move without ever replacing or nesting into an existing target (renameat2 RENAME_NOREPLACE where the kernel has it).
sub op_move {
  my ($id, $from, $to) = @_;
  return refuse($id, 'ENOENT', "cannot move $from: it does not exist") unless lstat($from);
  return refuse($id, 'EEXIST', "cannot move $from to $to: $to exists (refusing to move into or over it)") if lstat($to);
  if ($RENAMEAT2) {
    my ($a, $b) = ($from, $to);
    my $r = syscall($RENAMEAT2, -100, $a, -100, $b, 1);
    return answer($id, 'moved') if $r == 0;
    return refuse($id, 'EEXIST', "cannot move $from to $to: $to exists (refusing to move into or over it)") if $! == EEXIST;
    return refuse($id, 'EXDEV', "cannot move $from to $to: they are on different file systems") if $! == EXDEV;
    return refuse_errno($id, "cannot move $from to $to") unless $! == ENOSYS || $! == EINVAL;
  }
  rename($from, $to) or return $! == EXDEV ? refuse($id, 'EXDEV', "cannot move $from to $to: they are on different file systems") : refuse_errno($id, "cannot move $from to $to");
  answer($id, 'moved');
}

sub op_mkdir {
  my ($id, $path, $mode, $owner, $group) = @_;
  return answer($id, 'exists') if -d $path;
  my ($uid, $gid) = eval { owner_ids($owner, $group) };
  return refuse($id, 'EINVAL', "cannot create $path: $@") if $@;
  my $perm = $mode ne '' ? oct($mode) : 0755;
  mkdir($path, 0700) or return refuse_errno($id, "cannot create $path");
  chown($uid, $gid, $path) or return refuse_errno($id, "cannot set the owner of $path");
  chmod($perm, $path) or return refuse_errno($id, "cannot set the mode of $path");
  answer($id, 'created');
}

sub op_remove {
  my ($id, $path, $recursive) = @_;
  return refuse($id, 'EINVAL', "refusing to remove '$path': not an absolute path below /") unless $path =~ m{^/.*[^/]} && $path !~ m{(^|/)\.\.?(/|$)};
  return answer($id, 'absent') unless lstat($path);
  if (-d _ && !-l $path) {
    if ($recursive) {
      require File::Path;
      File::Path::remove_tree($path, { error => \my $errors, safe => 0 });
      if ($errors && @$errors) { my ($file, $msg) = %{ $errors->[0] }; return refuse($id, 'EIO', "cannot remove $path: $file: $msg") }
    } else {
      rmdir($path) or return refuse_errno($id, "cannot remove $path");
    }
  } else {
    unlink($path) or return refuse_errno($id, "cannot remove $path");
  }
  answer($id, 'removed');
}

# The directory of locks named without a path. Another agent may remove it (empty) at any moment: try again then.
sub lock_dir {
  for (1 .. 5) {
    my $dir;
    if ($> == 0) {
      $dir = '/run/pgplay';
    } else {
      my $home = (user_entry($>) || {})->{home} || die "no home directory for the lock\n";
      $dir = "$home/.pgplay";
    }
    mkdir($dir, 0700);
    my @st = lstat($dir);
    next if !@st && $! == ENOENT;
    die "$dir is not a directory\n" unless @st && -d _;
    die "$dir is not a directory owned by root and closed to others\n" if $> == 0 && ($st[4] != 0 || ($st[2] & 077) != 0);
    return $dir;
  }
  die "its directory keeps disappearing\n";
}

# A lock file pgplay made holds this line; only such a file is removed when its lock is let go.
my $LOCK_MARK = "pgplay run lock\n";

sub same_file {
  my ($fh, $path) = @_;
  my @a = stat($fh);
  my @b = lstat($path);
  return @a && @b && $a[0] == $b[0] && $a[1] == $b[1];
}

# One try at a lock, without waiting: 1 when answered (locked, or refused), 0 while another run holds it. A holder
# removes its file as it lets go, so a lock taken on a file no longer at the path is given up and taken again.
sub try_lock {
  my ($w) = @_;
  for (1 .. 5) {
    if (!$w->{fh}) {
      my ($path, $dir) = ($w->{name}, undef);
      if ($path !~ m{/}) {
        $dir = eval { lock_dir() };
        if (!$dir) { refuse($w->{id}, 'EACCES', "cannot lock: $@"); return 1 }
        $path = "$dir/$path";
      }
      @$w{qw(path dir)} = ($path, $dir);
      my $fh;
      if (sysopen($fh, $path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600)) {
        put_all($fh, $LOCK_MARK);
      } elsif ($! != EEXIST || !sysopen($fh, $path, O_RDWR | O_NOFOLLOW)) {
        next if $! == ENOENT;    # its holder removed it (or the directory) just now
        refuse_errno($w->{id}, "cannot open the lock $path");
        return 1;
      }
      $w->{fh} = $fh;
    }
    return 0 unless flock($w->{fh}, LOCK_EX | LOCK_NB);
    if (same_file($w->{fh}, $w->{path})) {
      $locks{ $w->{path} } = { fh => $w->{fh}, dir => $w->{dir} };
      answer($w->{id}, 'locked', $w->{path});
      return 1;
    }
    close(delete $w->{fh});
  }
  return 0;
}

sub op_lock {
  my ($id, $name, $wait) = @_;
  my $w = { id => $id, name => $name };
  return if try_lock($w);
  $w->{deadline} = now() + $wait + margin();
  push @waiting_locks, $w;
}

# Let go of a lock: its file goes first (while still held) when pgplay made it, then the lock directory when empty.
sub release_lock {
  my ($path) = @_;
  my $lock = delete $locks{$path} or return 0;
  my $fh = $lock->{fh};
  my @st = stat($fh);
  my $mark = '';
  if (same_file($fh, $path) && $st[7] == length($LOCK_MARK) && sysseek($fh, 0, 0)) { sysread($fh, $mark, length $LOCK_MARK) }
  if ($mark eq $LOCK_MARK) {
    unlink($path);
    rmdir($lock->{dir}) if defined $lock->{dir};
  }
  close($fh);
  return 1;
}

sub op_watchdog {
  my ($id, $seconds) = @_;
  $watch = $seconds + 0;
  $heard = time();
  answer($id, 'watching');
}

sub op_unlock {
  my ($id, $path) = @_;
  answer($id, release_lock($path) ? 'unlocked' : 'not-held');
}

# Guards: what to put back should the client go away without saying goodbye (a dropped connection in the middle
# of a change). Each action is "remove PATH" or "move FROM TO"; they run in reverse order of registration.
my @guards;

sub op_guard {
  my ($id, $name, $what, @actions) = @_;
  @guards = grep { $_->{name} ne $name } @guards;
  push @guards, { name => $name, actions => [@actions] } if $what eq 'set';
  answer($id, 'ok');
}

sub run_guards {
  for my $guard (reverse @guards) {
    for my $action (@{ $guard->{actions} }) {
      my ($verb, @paths) = split /\t/, $action;
      if ($verb eq 'remove' && $paths[0] =~ m{^/.+[^/]$} && -e $paths[0]) { require File::Path; File::Path::remove_tree($paths[0], { safe => 0 }) }
      elsif ($verb eq 'move' && -e $paths[0] && !-e $paths[1]) { rename($paths[0], $paths[1]) }
    }
  }
  @guards = ();
}

sub retry_locks {
  my @still;
  for my $w (@waiting_locks) {
    next if try_lock($w);
    if (now() >= $w->{deadline}) { close($w->{fh}) if $w->{fh}; refuse($w->{id}, 'EBUSY', "another pgplay run holds $w->{path}") }
    else { push @still, $w }
  }
  @waiting_locks = @still;
}

sub watch { my ($id, $type, $fh) = @_; nonblocking($fh); $readers{ fileno($fh) } = [$id, $type, $fh] }

sub op_run {
  my ($id, $as, $cwd, $has_stdin, $env_count, @rest) = @_;
  my @env = splice(@rest, 0, 2 * $env_count);
  my @argv = @rest;
  return refuse($id, 'EINVAL', 'nothing to run') unless @argv;
  my $user = user_entry($as eq '' ? $> : $as) or return refuse($id, 'EUSER', "cannot run as $as: no such user");
  return refuse($id, 'EPERM', "cannot run as $user->{name}: the agent runs as " . name_of_uid($>) . " without become") if $user->{uid} != $> && $> != 0;
  pipe(my $out_r, my $out_w) or return refuse_errno($id, 'pipe');
  pipe(my $err_r, my $err_w) or return refuse_errno($id, 'pipe');
  pipe(my $in_r, my $in_w) or return refuse_errno($id, 'pipe');
  my $pid = fork();
  return refuse_errno($id, 'cannot start a process') unless defined $pid;
  if ($pid == 0) {
    $SIG{$_} = 'DEFAULT' for qw(PIPE CHLD TERM HUP INT);
    # Its own process group, so a stop reaches what it starts too (CORE::exit: nothing of the agent's is flushed here).
    setpgrp(0, 0);
    open(STDIN, '<&', $in_r) && open(STDOUT, '>&', $out_w) && open(STDERR, '>&', $err_w) or CORE::exit(126);
    my $ok = eval {
      become_for_good($user);
      my $dir = $cwd eq '' ? '/' : $cwd;
      chdir($dir) or die "cannot change directory to $dir: $!\n";
      my %keep = map { $_ => $ENV{$_} } grep { /^(LANG|LANGUAGE|LC_[A-Z]+|TZ)$/ } keys %ENV;
      %ENV = (%keep, PATH => '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME => $user->{home}, USER => $user->{name}, LOGNAME => $user->{name}, SHELL => $user->{shell} || '/bin/sh', @env);
      1;
    };
    if (!$ok) { print STDERR $@; CORE::exit(126) }
    exec { $argv[0] } @argv or print STDERR "cannot run $argv[0]: $!\n";
    CORE::exit(127);
  }
  close($out_w);
  close($err_w);
  close($in_r);
  my $job = { kind => 'run', pid => $pid, open => 2, queue => '' };
  if ($has_stdin) { nonblocking($in_w); $job->{in} = $in_w } else { close($in_w) }
  $jobs{$id} = $job;
  $pid_job{$pid} = $id;
  watch($id, 'O', $out_r);
  watch($id, 'e', $err_r);
  answer($id, 'started', $pid);
}

# A session on a unix socket, connected with the given user's identity (PostgreSQL's peer authentication).
sub op_unix {
  my ($id, $path, $as) = @_;
  my $user = $as eq '' ? undef : user_entry($as);
  return refuse($id, 'EUSER', "no user named $as") if $as ne '' && !$user;
  return refuse($id, 'EINVAL', "bad socket path $path") if length($path) > 107 || index($path, "\0") >= 0;
  my ($s, $addr);
  if ($^O eq 'linux') {
    # AF_UNIX and SOCK_STREAM are 1 on Linux; sockaddr_un is the family and the path (Socket.pm costs 10 ms to load).
    socket($s, 1, 1, 0) or return refuse_errno($id, 'socket');
    $addr = pack('S', 1) . $path . "\0";
  } else {
    require Socket;
    socket($s, Socket::AF_UNIX(), Socket::SOCK_STREAM(), 0) or return refuse_errno($id, 'socket');
    $addr = Socket::pack_sockaddr_un($path);
  }
  my ($euid, $egid) = ($>, $));
  my $switch = $user && $user->{uid} != $>;
  return refuse($id, 'EPERM', "cannot connect as $user->{name}: the agent runs as " . name_of_uid($>)) if $switch && $> != 0;
  if ($switch) { $) = "$user->{gid} $user->{gid}"; $> = $user->{uid} }
  my $ok = connect($s, $addr);
  my ($err, $name) = ($!, errno_name());
  if ($switch) { $> = $euid; $) = $egid }
  return refuse($id, $name, "$err") unless $ok;
  $jobs{$id} = { kind => 'unix', sock => $s, open => 1, queue => '' };
  $jobs{$id}{in} = $s;
  watch($id, 'O', $s);
  answer($id, 'connected');
}

# A TCP connection opened from this host (its address, routes and firewall), for the preflight: connected, or why
# not (refused, timed out, no route) as data, with the address it left from. The connect does not block: other
# requests are served while it waits, and its deadline is kept by the main loop (a host name's lookup does block,
# briefly; an address needs none).
sub op_tcp {
  my ($id, $host, $port, $timeout_ms) = @_;
  # Socket loads only here: the preflight is the one caller (Socket.pm costs 10 ms to load).
  require Socket;
  my ($gerr, @ai) = Socket::getaddrinfo($host, $port, { socktype => Socket::SOCK_STREAM() });
  return answer($id, 'failed', 'EAI', "cannot resolve $host: $gerr", '') if $gerr || !@ai;
  socket(my $s, $ai[0]{family}, Socket::SOCK_STREAM(), 0) or return refuse_errno($id, 'socket');
  nonblocking($s);
  return tcp_connected($id, $s) if connect($s, $ai[0]{addr});
  return tcp_failed($id, $s, $! + 0) unless $! == EINPROGRESS;
  $jobs{$id} = { kind => 'tcp', sock => $s, open => 1, queue => '', deadline => now() + ($timeout_ms || 5000) / 1000 };
}

sub local_address {
  my ($s) = @_;
  my $sockaddr = getsockname($s) or return '';
  my ($err, $address) = Socket::getnameinfo($sockaddr, Socket::NI_NUMERICHOST(), Socket::NIx_NOSERV());
  return $err || $address =~ /^(0\.0\.0\.0|::)$/ ? '' : $address;
}

sub tcp_connected {
  my ($id, $s) = @_;
  $jobs{$id} = { kind => 'tcp', sock => $s, open => 1, queue => '', in => $s };
  watch($id, 'O', $s);
  answer($id, 'connected', local_address($s));
}

sub tcp_failed {
  my ($id, $s, $errno) = @_;
  my $local = local_address($s);
  close($s);
  delete $jobs{$id};
  local $! = $errno;
  answer($id, 'failed', errno_name(), "$!", $local);
}

# Connections waiting for an answer: connected, failed, or past their deadline.
sub check_connecting {
  my ($wout) = @_;
  for my $id (grep { $jobs{$_}{deadline} } keys %jobs) {
    my $job = $jobs{$id};
    if (defined $wout && vec($wout, fileno($job->{sock}), 1)) {
      my $err = unpack('i', getsockopt($job->{sock}, Socket::SOL_SOCKET(), Socket::SO_ERROR()) // pack('i', 0));
      if ($err) { tcp_failed($id, $job->{sock}, $err) } else { tcp_connected($id, $job->{sock}) }
    } elsif (now() >= $job->{deadline}) {
      tcp_failed($id, $job->{sock}, ETIMEDOUT);
    }
  }
}

sub signal_number { my %n = (TERM => 15, KILL => 9, INT => 2, HUP => 1, QUIT => 3); return $n{ $_[0] } || 15 }

sub kill_job {
  my ($id, $signal) = @_;
  my $job = $jobs{$id} or return;
  if ($job->{deadline}) { tcp_failed($id, $job->{sock}, ECANCELED); return }
  if ($job->{kind} ne 'run') { finish_stream($id); return }
  kill(-signal_number($signal), $job->{pid}) unless defined $job->{status};
}

sub end_input {
  my ($id) = @_;
  my $job = $jobs{$id} or return;
  $job->{end_input} = 1;
  flush_input($id);
}

sub flush_input {
  my ($id) = @_;
  my $job = $jobs{$id} or return;
  my $fh = $job->{in} or return;
  while (length $job->{queue}) {
    my $n = syswrite($fh, $job->{queue});
    if (!defined $n) { return if $! == EAGAIN || $! == EINTR; $job->{queue} = ''; last }
    substr($job->{queue}, 0, $n, '');
  }
  if ($job->{end_input}) {
    if ($job->{kind} ne 'run') { shutdown($fh, 1) } else { close($fh) }
    delete $job->{in};
  }
}

sub finish_stream {
  my ($id) = @_;
  my $job = delete $jobs{$id} or return;
  for my $fd (keys %readers) { if ($readers{$fd}[0] == $id) { close($readers{$fd}[2]); delete $readers{$fd} } }
  close($job->{sock}) if $job->{sock};
  frame($id, 'X', enc('', ''));
}

sub maybe_done {
  my ($id) = @_;
  my $job = $jobs{$id} or return;
  if ($job->{kind} ne 'run') { finish_stream($id) if $job->{open} == 0; return }
  return unless defined $job->{status};
  # What the command left running in the background may hold its output open: give it a moment, then stop it
  # (its process group) and stop reading. A daemon is started with setsid or a service manager, not with &.
  if ($job->{open} > 0) {
    return if now() - $job->{reaped} < 1 + margin();
    kill(-15, $job->{pid});
    for my $fd (keys %readers) { if ($readers{$fd}[0] == $id) { close($readers{$fd}[2]); delete $readers{$fd} } }
  }
  close($job->{in}) if $job->{in};
  delete $jobs{$id};
  my $st = $job->{status};
  my %names = (1 => 'SIGHUP', 2 => 'SIGINT', 3 => 'SIGQUIT', 6 => 'SIGABRT', 9 => 'SIGKILL', 13 => 'SIGPIPE', 15 => 'SIGTERM');
  my $sig = $st & 127;
  frame($id, 'X', $sig ? enc('', $names{$sig} || "SIG$sig") : enc($st >> 8, ''));
}

sub reap {
  while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
    my $id = delete $pid_job{$pid};
    next unless defined $id && $jobs{$id};
    $jobs{$id}{status} = $?;
    $jobs{$id}{reaped} = now();
    maybe_done($id);
  }
}

sub hello {
  my %os;
  if (open(my $fh, '<', '/etc/os-release')) {
    while (<$fh>) { $os{$1} = $2 if /^([A-Z_]+)="?([^"\n]*)"?/ }
    close($fh);
  }
  my $hostname = '';
  if (open(my $fh, '<', '/proc/sys/kernel/hostname')) { $hostname = <$fh> // ''; chomp $hostname; close($fh) }
  frame(0, 'H', enc('pgplay-agent', $PROTOCOL, $>, name_of_uid($>), $hostname, $os{ID} || '', $os{ID_LIKE} || '', $os{VERSION_ID} || '', $MACHINE, sprintf('%vd', $^V)));
}

my %OPS = (watchdog => \&op_watchdog, unlock => \&op_unlock, guard => \&op_guard, stat => \&op_stat, read => \&op_read, list => \&op_list, write => \&op_write, move => \&op_move, mkdir => \&op_mkdir, remove => \&op_remove, lock => \&op_lock, run => \&op_run, unix => \&op_unix, tcp => \&op_tcp);

sub dispatch {
  my ($id, $type, $payload) = @_;
  if ($type eq 'R') {
    my ($op, @args) = unpack('(N/a*)*', $payload);
    my $fn = $OPS{$op} or return refuse($id, 'ENOSYS', "unknown request $op");
    $fn->($id, @args);
  } elsif ($type eq 'I') {
    my $job = $jobs{$id} or return;
    $job->{queue} .= $payload;
    flush_input($id);
  } elsif ($type eq 'E') {
    end_input($id);
  } elsif ($type eq 'K') {
    kill_job($id, $payload);
  } elsif ($type eq 'D') {
    detach($payload);
  } elsif ($type eq 'H') {
    hello();
  }
  # 'P' (ping) only says pgplay is there: reading it was enough.
}

# What a run leaves when it ends: its commands stopped (their process groups: TERM, then KILL after the grace), what
# it guards put back, its locks let go.
sub end_run {
  my @pids = map { $_->{pid} } grep { $_->{kind} eq 'run' && !defined $_->{status} } values %jobs;
  kill(-15, $_) for @pids;
  my $deadline = @pids ? now() + $KILL_GRACE : 0;
  while (grep { kill(0, $_) } @pids) {
    1 while waitpid(-1, WNOHANG) > 0;
    last if now() > $deadline;
    select(undef, undef, undef, 0.05);
  }
  kill(-9, $_) for grep { kill(0, $_) } @pids;
  1 while waitpid(-1, WNOHANG) > 0;
  run_guards();
  release_lock($_) for keys %locks;
}

sub stop_everything {
  my ($code) = @_;
  end_run();
  flush_frames();
  CORE::exit($code);
}

# The agent kept between runs by pgplay's keeper of kept connections: the run it served is gone (ended, killed, or
# its link to the keeper lost). What the run left ends as if the agent's input had closed, its connections are
# closed, and the agent answers 'D' and waits for the next run (the keeper sends 'H' for a new hello), at most
# $idle seconds of silence when that is not 0.
sub detach {
  my ($idle) = @_;
  end_run();
  for my $job (values %jobs) { close($job->{sock}) if $job->{sock}; close($job->{in}) if $job->{in} }
  close($_->[2]) for values %readers;
  close($_->{fh}) for grep { $_->{fh} } @waiting_locks;
  %jobs = ();
  %readers = ();
  %pid_job = ();
  @waiting_locks = ();
  $watch = $idle =~ /^\d+$/ ? $idle : 0;
  $heard = time();
  frame(0, 'D', '');
}

hello();
my $stdin_open = 1;
while (1) {
  stop_everything(0) if $stopping;
  flush_frames();
  my ($rin, $win) = ('', '');
  vec($rin, fileno(STDIN), 1) = 1 if $stdin_open;
  vec($rin, fileno($wake_r), 1) = 1;
  vec($rin, $_, 1) = 1 for keys %readers;
  for my $job (values %jobs) { vec($win, fileno($job->{in}), 1) = 1 if $job->{in} && length $job->{queue} }
  my @connecting = grep { $_->{deadline} } values %jobs;
  vec($win, fileno($_->{sock}), 1) = 1 for @connecting;
  # Perl runs signal handlers between its own steps, so a SIGCHLD that lands just before select() is only handled
  # after it returns: while commands run, select wakes up by itself too (soon when a command's output has ended).
  my @runs = grep { $_->{kind} eq 'run' } values %jobs;
  my $ending = grep { defined $_->{status} || $_->{open} == 0 } @runs;
  my $timeout = $ending ? 0.02 : (@waiting_locks || @runs) ? 0.1 : undef;
  for my $job (@connecting) { my $left = $job->{deadline} - now(); $timeout = $left < 0 ? 0 : $left if !defined $timeout || $left < $timeout }
  if ($watch) { my $left = $heard + $watch - time(); $timeout = $left < 0 ? 0 : $left if !defined $timeout || $left < $timeout }
  my $n = select(my $rout = $rin, my $wout = $win, undef, $timeout);
  next if $n < 0;    # interrupted by a signal: its handler has run now
  if (vec($rout, fileno($wake_r), 1)) { my $drain; 1 while sysread($wake_r, $drain, 512) }
  reap();
  check_connecting($wout) if @connecting;
  if ($stdin_open && vec($rout, fileno(STDIN), 1)) {
    my $got = sysread(STDIN, $inbuf, 1 << 20, length $inbuf);
    $heard = time() if $got;
    if (defined $got && $got == 0) { stop_everything(0) }
    elsif (!defined $got && $! != EINTR && $! != EAGAIN) { stop_everything(1) }
    while (length($inbuf) >= 9) {
      my ($len, $id, $type) = unpack('NNa1', $inbuf);
      last if length($inbuf) < 9 + $len;
      my $payload = substr($inbuf, 9, $len);
      substr($inbuf, 0, 9 + $len, '');
      dispatch($id, $type, $payload);
    }
  }
  stop_everything(0) if $watch && time() - $heard > $watch;
  for my $fd (keys %readers) {
    next unless vec($rout, $fd, 1) && $readers{$fd};
    my ($id, $type, $fh) = @{ $readers{$fd} };
    my $buf;
    my $got = sysread($fh, $buf, 65536);
    next if !defined $got && ($! == EAGAIN || $! == EINTR);
    if ($got) { frame($id, $type, $buf); next }
    delete $readers{$fd};
    close($fh) unless $jobs{$id} && $jobs{$id}{kind} ne 'run';
    if ($jobs{$id}) { $jobs{$id}{open}--; maybe_done($id) }
  }
  for my $id (keys %jobs) { flush_input($id) if $jobs{$id} && $jobs{$id}{in} && vec($wout, fileno($jobs{$id}{in}), 1) }
  retry_locks() if @waiting_locks;
  maybe_done($_) for grep { $jobs{$_} && $jobs{$_}{kind} eq 'run' && defined $jobs{$_}{status} } keys %jobs;
}
