// The generated benchmark program, shared by the criterion benchmark and
// the `parse_speed` example.

/// A realistic program: roles with resources, loops, conditionals, strings
/// with interpolation, comments and inventory, repeated to `lines` lines.
fn program(lines: usize) -> String {
    let mut out = String::with_capacity(lines * 32);
    let mut n = 0usize;
    let mut count = 0usize;
    while count < lines {
        let block = format!(
            r#"/// Role number {n}.
role web_{n}(port: Int = 80, admins: [String] = ["alice", "bob"]) {{
  package "nginx-{n}" {{ state = "present" }}
  let svc = service "nginx-{n}" {{
    state = "running"
    enabled = true
  }}
  // the main configuration
  file "/etc/nginx/conf.d/site-{n}.conf" {{
    content = "listen ${{port}};\nserver_name web{n}.example.com;\n"
    mode = 0o644
    notify = [svc]
  }}
  for name in admins {{
    user name {{ shell = "/bin/bash", groups = ["sudo", "web"] }}
  }}
  if port > 1024 && port != 8080 {{
    sysctl "net.ipv4.ip_unprivileged_port_start" {{ value = "${{port}}" }}
  }}
}}

host "web{n}" {{ address = "10.0.{a}.{b}", groups = ["web"], vars = {{ tier = "prod" }} }}
let limits_{n} = [x * 2 + 1 for x in [1, 2, 3, 4] if x % 2 == 0] ?? []

"#,
            a = n / 250 % 250,
            b = n % 250,
        );
        count += block.lines().count();
        out.push_str(&block);
        n += 1;
    }
    out
}
