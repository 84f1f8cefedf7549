//! Shared by the rpm tests: running rpm's own tools (which must be
//! installed: the tests fail, naming the Debian package, when they are
//! not), and the spec files built with rpmbuild.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `cmd`, failing the test with the Debian package to install when
/// the program is missing, and with its output when it fails.
#[track_caller]
pub fn run(cmd: &mut Command, debian_package: &str) -> Output {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{program}` is not installed; this test needs it: apt-get install {debian_package}"
        ),
        Err(e) => panic!("cannot run `{program}`: {e}"),
    };
    assert!(
        out.status.success(),
        "`{cmd:?}` failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Specs with many dependency and file shapes. `%{_arch}` packages build
/// for the machine's architecture.
pub const SPECS: &[(&str, &str)] = &[
    (
        "alpha",
        r#"Name: alpha
Epoch: 3
Version: 1.2~rc1
Release: 4
Summary: Alpha <test> & "package"
License: MIT and (GPL-2.0+ or BSD)
URL: https://example.com/alpha?a=1&b=2
Group: Applications/System
Vendor: Depot Tests
Packager: Tester <tester@example.com>
Requires: beta >= 1:2.0-1
Requires: (gamma or delta)
Requires(pre): /bin/sh
Requires(post): post-helper >= 2
Requires: /usr/bin/alpha
Requires: /usr/share/alpha/data/file.txt
Requires: alpha-cap = 7
Requires: libc.so.6()(64bit)
Requires: libc.so.6(GLIBC_2.4)(64bit)
Requires: libc.so.6(GLIBC_2.34)(64bit)
Requires: versioned-no-release >= 2
Provides: alpha-cap = 7
Provides: alpha-virtual
Conflicts: omega < 2
Obsoletes: old-alpha <= 1.0
Recommends: rec-pkg
Suggests: sug-pkg > 1
Supplements: (sup-a and sup-b)
Enhances: enh-pkg

%description
Alpha is a test package.
It has <two> lines & "quotes".

%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/alpha %{buildroot}/usr/share/alpha/data %{buildroot}/var/lib/alpha %{buildroot}/opt/tools/sbin
printf '#!/bin/sh\necho alpha\n' > %{buildroot}/usr/bin/alpha
chmod 755 %{buildroot}/usr/bin/alpha
echo conf > %{buildroot}/etc/alpha/alpha.conf
echo data > %{buildroot}/usr/share/alpha/data/file.txt
echo tool > %{buildroot}/opt/tools/sbin/tool

%files
/usr/bin/alpha
%config(noreplace) /etc/alpha/alpha.conf
%dir /etc/alpha
%ghost /etc/alpha/generated.conf
%dir /usr/share/alpha
/usr/share/alpha/data
%ghost /var/lib/alpha/state.db
%dir /var/lib/alpha
/opt/tools

%pre
true

%post
true

%changelog
* Mon Jan 02 2023 Tester <tester@example.com> - 3:1.2~rc1-4
- Second entry & <more>
* Mon Jan 02 2023 Other <other@example.com>   - 3:1.2~rc1-3
- Same day entry
* Mon Jan 02 2023 Third <third@example.com> - 3:1.2~rc1-2
- Third entry on the same day
* Sun Jan 01 2023 Tester <tester@example.com> - 3:1.2~rc1-1
- First entry
"#,
    ),
    (
        "beta",
        r#"Name: beta
Version: 2.0^git1
Release: 1
Summary: Beta noarch package
License: MIT
BuildArch: noarch
Requires: alpha-cap
Provides: beta-virtual(x86-64) = 2.0
Provides: beta-extra = 1:2.0-1

%description
Beta.

%install
mkdir -p %{buildroot}/usr/sbin %{buildroot}/usr/lib
echo b > %{buildroot}/usr/sbin/betad
echo s > %{buildroot}/usr/lib/sendmail

%files
/usr/sbin/betad
/usr/lib/sendmail

%changelog
* Sat Jan 14 2023 B <b@example.com> - 2.0^git1-1
- fourteen
* Fri Jan 13 2023 B <b@example.com> - 2.0-13
- thirteen
* Thu Jan 12 2023 B <b@example.com> - 2.0-12
- twelve
* Wed Jan 11 2023 B <b@example.com> - 2.0-11
- eleven
* Tue Jan 10 2023 B <b@example.com> - 2.0-10
- ten
* Mon Jan 09 2023 B <b@example.com> - 2.0-9
- nine
* Sun Jan 08 2023 B <b@example.com> - 2.0-8
- eight
* Sat Jan 07 2023 B <b@example.com> - 2.0-7
- seven
* Fri Jan 06 2023 B <b@example.com> - 2.0-6
- six
* Thu Jan 05 2023 B <b@example.com> - 2.0-5
- five
* Wed Jan 04 2023 B <b@example.com> - 2.0-4
- four
* Tue Jan 03 2023 B <b@example.com> - 2.0-3
- three
* Mon Jan 02 2023 B <b@example.com> - 2.0-2
- two
* Sun Jan 01 2023 B <b@example.com> - 2.0-1
- one
"#,
    ),
    (
        "delta",
        "Name: delta
Version: 1
Release: 1.el9_2
Summary: Ünïcödé summary – “quotes” 'apos' tab\there
License: MIT
BuildArch: noarch
Provides: weird\"name = 1
Provides: amp&name
Provides: delta-ünï

%description
Line one with é and €.
\tTabbed line & <b>bold</b>.

%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/srv/dätä
echo x > \"%{buildroot}/usr/bin/fïle&<name>\"
echo y > \"%{buildroot}/srv/dätä/with space\"

%files
/usr/bin/*
/srv/dätä

%changelog
* Mon Jan 02 2023 Jösé \"Q\" <j@x> - 1-1
- Entry with\ttab and é & <x>
  and a second line
",
    ),
    (
        "empty",
        "Name: empty
Version: 0
Release: 0
Summary: Nothing at all
License: CC0
BuildArch: noarch

%description
A metapackage.

%files
",
    ),
];

/// Builds every spec of [`SPECS`] with rpmbuild under `top` (binary
/// packages, and the source package of `beta`) and returns the .rpm paths.
/// Nothing outside `top` is touched: HOME points into it, so no user
/// macros apply.
pub fn rpmbuild_all(top: &Path) -> Vec<PathBuf> {
    let specs = top.join("SPECS");
    std::fs::create_dir_all(&specs).unwrap();
    let home = top.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut out = Vec::new();
    for (name, spec) in SPECS {
        let path = specs.join(format!("{name}.spec"));
        std::fs::write(&path, spec).unwrap();
        let mode = if *name == "beta" { "-ba" } else { "-bb" };
        run(
            Command::new("rpmbuild")
                .env("HOME", &home)
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .arg(mode)
                .arg("--quiet")
                .arg("--define")
                .arg(format!("_topdir {}", top.display()))
                .arg("--define")
                .arg("_build_id_links none")
                .arg("--define")
                .arg("debug_package %{nil}")
                .arg(&path),
            "rpm",
        );
    }
    for sub in ["RPMS", "SRPMS"] {
        collect(&top.join(sub), &mut out);
    }
    out.sort();
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rpm") {
            out.push(p);
        }
    }
}
