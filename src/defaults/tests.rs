use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches};

use super::*;
use crate::cli::{Cli, Command};

fn sources(file: Option<&str>, env: &[(&str, &str)]) -> Sources {
    Sources {
        file: file.map(|text| (PathBuf::from("conf/tandem.toml"), text.to_string())),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn parse(sources: &Sources, argv: &str) -> Result<Cli, String> {
    let found = resolve(&Cli::command(), sources).map_err(|e| e.to_string())?;
    let matches = apply(Cli::command(), &found)
        .try_get_matches_from(argv.split_whitespace())
        .map_err(|e| e.to_string())?;
    Cli::from_arg_matches(&matches).map_err(|e| e.to_string())
}

fn deploy(cli: Cli) -> crate::cli::DeployArgs {
    match cli.command {
        Command::Deploy(args) => args,
        other => panic!("not deploy: {other:?}"),
    }
}

#[test]
fn command_line_beats_environment_beats_file_beats_built_in() {
    let file = "forks = 7\nstep_timeout = 30\nuser = \"filer\"\n";
    let env = [("TANDEM_STEP_TIMEOUT", "40"), ("TANDEM_USER", "envy")];
    let argv = "tandem deploy -i inv.yml site.yml --user cli";

    let args = deploy(parse(&sources(Some(file), &env), argv).unwrap());
    assert_eq!(
        args.connect.user.as_deref(),
        Some("cli"),
        "command line wins"
    );
    assert_eq!(args.step_timeout, Some(40), "environment over file");
    assert_eq!(args.connect.forks, 7, "file over built-in");

    let args = deploy(parse(&sources(None, &[]), argv).unwrap());
    assert_eq!(args.connect.forks, 100, "built-in when nothing says");
    assert_eq!(args.step_timeout, None);
}

#[test]
fn the_file_gives_the_inventory_relative_to_itself_and_global_flags() {
    let file = "inventory = \"inv/lab.yml\"\njson = true\nverbose = 2\ncolor = \"never\"\nkex = [\"a\", \"b\"]\n";
    let cli = parse(&sources(Some(file), &[]), "tandem deploy site.yml").unwrap();
    assert_eq!(cli.verbose, 2);
    assert_eq!(cli.color, crate::report::color::ColorChoice::Never);
    let args = deploy(cli);
    assert_eq!(args.connect.inventory, PathBuf::from("conf/inv/lab.yml"));
    assert!(args.json);
    assert_eq!(args.connect.kex, ["a", "b"]);
    // -v on the command line replaces the file's count, it does not add to it.
    let cli = parse(&sources(Some(file), &[]), "tandem -v deploy site.yml").unwrap();
    assert_eq!(cli.verbose, 1);
}

#[test]
fn the_playbook_key_sets_config_commands_not_deploys_positional() {
    let file = "playbook = \"/srv/cookbook.yml\"\ninventory = \"/srv/inv.yml\"\n";
    let cli = parse(&sources(Some(file), &[]), "tandem config render").unwrap();
    let Command::Config(config) = cli.command else {
        panic!("not config")
    };
    let crate::cli::ConfigAction::Render(render) = config.action else {
        panic!("not render")
    };
    assert_eq!(
        render.source.playbook,
        Some(PathBuf::from("/srv/cookbook.yml"))
    );
    // deploy still needs its playbook argument.
    let err = parse(&sources(Some(file), &[]), "tandem deploy")
        .err()
        .unwrap();
    assert!(err.contains("PLAYBOOK"), "{err}");
}

#[test]
fn unknown_keys_and_bad_values_name_the_line_and_column() {
    let err = parse(&sources(Some("forks = 5\nforkz = 5\n"), &[]), "tandem ping")
        .err()
        .unwrap();
    assert_eq!(
        err,
        "conf/tandem.toml:2:1: unknown key `forkz`; did you mean `forks`?"
    );

    let err = parse(&sources(Some("\nforks = 0\n"), &[]), "tandem ping")
        .err()
        .unwrap();
    assert!(
        err.starts_with("conf/tandem.toml:2:9: `forks` = 0: "),
        "{err}"
    );
    assert!(err.contains("1.."), "{err}");

    let err = parse(
        &sources(Some("color = \"sometimes\"\n"), &[]),
        "tandem ping",
    )
    .err()
    .unwrap();
    assert!(
        err.starts_with("conf/tandem.toml:1:9: `color` = sometimes: "),
        "{err}"
    );

    let err = parse(&sources(Some("[deploy]\nforks = 5\n"), &[]), "tandem ping")
        .err()
        .unwrap();
    assert!(err.starts_with("conf/tandem.toml:"), "{err}");
    assert!(err.contains("a table or date"), "{err}");

    let err = parse(&sources(Some("forks = \n"), &[]), "tandem ping")
        .err()
        .unwrap();
    assert!(err.starts_with("conf/tandem.toml:1:"), "{err}");
    assert!(err.contains("not valid TOML"), "{err}");

    let err = parse(&sources(None, &[("TANDEM_FORKS", "many")]), "tandem ping")
        .err()
        .unwrap();
    assert!(
        err.starts_with("TANDEM_FORKS (environment): `forks` = many: "),
        "{err}"
    );
}

#[test]
fn config_flag_is_found_before_clap_runs() {
    let args = |s: &str| s.split_whitespace().map(Into::into).collect::<Vec<_>>();
    assert_eq!(
        config_flag(&args("tandem --config x.toml ping")).unwrap(),
        Some(PathBuf::from("x.toml"))
    );
    assert_eq!(
        config_flag(&args("tandem ping --config=y.toml")).unwrap(),
        Some(PathBuf::from("y.toml"))
    );
    assert_eq!(
        config_flag(&args("tandem run -- --config z")).unwrap(),
        None
    );
    assert!(config_flag(&args("tandem ping --config")).is_err());
}
