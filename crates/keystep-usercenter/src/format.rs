//! How times and devices read on the pages.

/// "2026-11-24 14:05 UTC" for a Unix time (the CLI prints the same).
pub use keystep_core::clock::utc_minute as date_time;

/// "14:05" for a Unix time, in UTC (the messages add "UTC").
pub fn time_of_day(unix: i64) -> String {
    let of_day = unix.rem_euclid(86_400);
    format!("{:02}:{:02}", of_day / 3600, (of_day % 3600) / 60)
}

/// The catalogue's words, for [`device_name`]: `say(key, args)`.
pub type Say<'a> = &'a dyn Fn(&str, &[(&str, &str)]) -> String;

/// "Firefox on Linux" from a User-Agent, in the page's words (browser and system names are
/// product names and stay as they are).
pub fn device_name(user_agent: Option<&str>, say: Say<'_>) -> String {
    let Some(ua) = user_agent else {
        return say("device.unknown", &[]);
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map_or_else(
        || say("device.browser", &[]),
        |(_, name)| (*name).to_owned(),
    );
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    match system {
        Some(system) => say("device.on", &[("browser", &browser), ("system", system)]),
        None => browser,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// English as the catalogue says it.
    fn english(key: &str, args: &[(&str, &str)]) -> String {
        let text = match key {
            "device.unknown" => "Unknown device",
            "device.browser" => "Browser",
            "device.on" => "{browser} on {system}",
            other => other,
        };
        args.iter().fold(text.to_owned(), |t, (k, v)| {
            t.replace(&format!("{{{k}}}"), v)
        })
    }

    #[test]
    fn dates_times_and_devices() {
        assert_eq!(date_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(date_time(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(date_time(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(time_of_day(0), "00:00");
        assert_eq!(time_of_day(1_700_000_000), "22:13");
        assert_eq!(device_name(Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"), &english), "Chrome on Linux");
        assert_eq!(device_name(Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1"), &english), "Safari on iOS");
        assert_eq!(
            device_name(
                Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"),
                &english
            ),
            "Firefox on Windows"
        );
        assert_eq!(device_name(None, &english), "Unknown device");
        assert_eq!(device_name(Some("Wget/1.21"), &english), "Browser");
    }
}
