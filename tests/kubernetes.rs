//! The Kubernetes examples (`examples/kubernetes/`): valid for the API (kubernetes-validate, from
//! PyPI, with the schemas it ships, strict: no field the API does not know), and consistent with
//! lanceur: a CronJob per launcher file, one pod at a time, the state folder on a claim, the
//! launcher file from the ConfigMap, the passwords from the Secret, the COLD share mounted where
//! the launchers deposit, and launcher files that lanceur itself reads. See: issue 16.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::TestEnv;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes")
}

/// The virtual environment scripts/test installs kubernetes-validate into.
fn venv() -> PathBuf {
    let venv = std::env::var_os("LANCEUR_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"));
    assert!(
        venv.join("bin/kubernetes-validate").exists(),
        "kubernetes-validate is missing from {}: run scripts/test, which installs it from PyPI",
        venv.display()
    );
    venv
}

fn yaml_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Every resource of the examples, as JSON, read by PyYAML (which kubernetes-validate uses).
fn resources() -> Vec<Value> {
    let script = "import json, sys, yaml\n\
                  docs = [d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]\n\
                  json.dump(docs, sys.stdout)";
    let output = Command::new(venv().join("bin/python"))
        .arg("-c")
        .arg(script)
        .args(yaml_files())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_kubernetes_examples_pass_the_api_schemas() {
    let files = yaml_files();
    assert!(files.len() >= 6, "{files:?}");
    let output = Command::new(venv().join("bin/kubernetes-validate"))
        .args(["--strict", "--quiet"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "kubernetes-validate: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn kind<'a>(resources: &'a [Value], kind: &str) -> Vec<&'a Value> {
    resources.iter().filter(|r| r["kind"] == kind).collect()
}

/// The volume of `pod` mounted at `path` in `container`.
fn volume_at<'a>(pod: &'a Value, container: &Value, path: &str) -> &'a Value {
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == path)
        .unwrap_or_else(|| panic!("nothing mounted at {path}"));
    pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap()
}

#[test]
fn one_cronjob_per_launcher_file_with_its_state_secrets_and_cold_share() {
    let resources = resources();
    let configmap = kind(&resources, "ConfigMap")[0];
    let launchers: BTreeMap<String, toml::Table> = configmap["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, text)| (key.clone(), text.as_str().unwrap().parse().unwrap()))
        .collect();
    let secret = kind(&resources, "Secret")[0];
    let cronjobs = kind(&resources, "CronJob");
    assert_eq!(
        cronjobs.len(),
        launchers.len(),
        "a CronJob per launcher file"
    );
    for (file, table) in &launchers {
        let name = file.strip_suffix(".toml").unwrap();
        assert_eq!(table["name"].as_str(), Some(name), "{file}");
        let cronjob = cronjobs
            .iter()
            .find(|c| c["metadata"]["name"] == format!("lanceur-{name}"))
            .unwrap_or_else(|| panic!("no CronJob for {file}"));
        let spec = &cronjob["spec"];
        assert_eq!(spec["concurrencyPolicy"], "Forbid", "{name}");
        let job = &spec["jobTemplate"]["spec"];
        // Kubernetes' deadline lets lanceur's own --run-timeout (1h) end the run first.
        assert!(
            job["activeDeadlineSeconds"].as_u64().unwrap() > 3600,
            "{name}"
        );
        let pod = &job["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() >= 30);
        let container = &pod["containers"][0];
        let args: Vec<&str> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(args, ["run", &format!("/etc/lanceur/{file}")]);
        // The launcher file comes from the ConfigMap.
        let launcher_volume = volume_at(pod, container, "/etc/lanceur");
        assert_eq!(
            launcher_volume["configMap"]["name"],
            configmap["metadata"]["name"]
        );
        // The state folder is on the claim, where the file and the environment say.
        let state_dir = table["state-dir"].as_str().unwrap();
        assert_eq!(
            volume_at(pod, container, state_dir)["persistentVolumeClaim"]["claimName"],
            "lanceur-state"
        );
        let env = container["env"].as_array().unwrap();
        assert!(env
            .iter()
            .any(|e| e["name"] == "LANCEUR_STATE_DIR" && e["value"] == state_dir));
        // The COLD folder is inside the share EzGED reads.
        let dest = table["dest"].as_str().unwrap();
        let cold = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "cold")
            .unwrap();
        let share = cold["mountPath"].as_str().unwrap();
        assert!(Path::new(dest).starts_with(share), "{dest} outside {share}");
        assert_eq!(
            volume_at(pod, container, share)["persistentVolumeClaim"]["claimName"],
            "ezged-cold"
        );
        // The password comes from the Secret, through the owner-only copy of the init container.
        let password = table["password-file"].as_str().unwrap();
        let key = Path::new(password).file_name().unwrap().to_str().unwrap();
        assert!(
            secret["stringData"].get(key).is_some(),
            "{key} not in the Secret"
        );
        let folder = Path::new(password).parent().unwrap().to_str().unwrap();
        assert!(volume_at(pod, container, folder)["emptyDir"]["medium"] == "Memory");
        let init = &pod["initContainers"][0];
        assert_eq!(
            volume_at(pod, init, "/secrets")["secret"]["secretName"],
            secret["metadata"]["name"]
        );
        assert!(
            init["command"][2].as_str().unwrap().contains("chmod 600"),
            "{init}"
        );
    }
}

#[test]
fn lanceur_reads_the_configmaps_launcher_files() {
    // Each launcher file as the pod sees it, with the pod's folders moved into a scratch folder:
    // `lanceur status` builds every launcher as a run would, reading its password file, and
    // says what it could not.
    let resources = resources();
    let env = TestEnv::new();
    let root = env.root().display().to_string();
    let secrets = env.dir("run/lanceur/secrets");
    for (key, value) in kind(&resources, "Secret")[0]["stringData"]
        .as_object()
        .unwrap()
    {
        let path = secrets.join(key);
        fs::write(&path, value.as_str().unwrap()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let files = env.dir("etc/lanceur");
    for (key, text) in kind(&resources, "ConfigMap")[0]["data"]
        .as_object()
        .unwrap()
    {
        let text = text
            .as_str()
            .unwrap()
            .replace("\"/run/", &format!("\"{root}/run/"))
            .replace("\"/var/lib/", &format!("\"{root}/var/lib/"))
            .replace("\"/srv/", &format!("\"{root}/srv/"));
        fs::write(files.join(key), text).unwrap();
    }
    let ran = env.run(&["status", files.to_str().unwrap(), "--json"]);
    let listing: Value = serde_json::from_str(ran.stdout.trim()).unwrap();
    let launchers = listing["launchers"].as_array().unwrap();
    assert_eq!(launchers.len(), 2, "{}", ran.explain());
    for launcher in launchers {
        assert!(launcher.get("error").is_none(), "{launcher:#}");
        assert_eq!(
            launcher["state_dir"],
            format!(
                "{root}/var/lib/lanceur/{}",
                launcher["launcher"].as_str().unwrap()
            )
        );
    }
    assert!(ran.stderr.is_empty(), "{}", ran.explain());
}
