//! One simulated purifier, pure: no I/O, no clock — every method takes the time as an argument.
//!
//! The driver (see [`crate::fleet`]) calls [`DeviceModel::step`] once per publish interval,
//! [`DeviceModel::handle_command`] for each command payload, and [`DeviceModel::handle_timeout`]
//! when [`DeviceModel::poll_timeout`] is due. Randomness comes from a per-device seeded
//! [`SmallRng`] and every step draws the same number of values whatever the device's state, so
//! two models with the same seed see the same weather, the same cooking events and the same sensor
//! noise — and differ only by what their fans did.
//!
//! # Physics
//!
//! Room air is one well-mixed box. Each pollutant (PM1, PM2.5, PM10, VOC) follows
//! `dC/dt = λ·(C_out − C) + E − (k_dep + ACH(speed)·η)·C`: infiltration `λ` from an outdoor
//! baseline that drifts slowly, an indoor emission `E` (occasional "cooking" bursts for particles,
//! a steady source for VOC), deposition, and the purifier's clean air delivery — air changes per
//! hour proportional to the fan speed times the filter's efficiency for that pollutant. Each step
//! uses the exact solution over its `elapsed` time, so any step length is stable. With the fan off
//! a pollutant rises back toward its off-equilibrium; at speed 5 PM2.5 falls with a time constant
//! of about 8 minutes, at speed 1 of about 25.
//!
//! Temperature, humidity and network strength are mean-reverting random walks
//! (Ornstein–Uhlenbeck, exact discretisation) around per-device means, temperature with a daily
//! cycle; sound is the ambient level plus the fan's noise at its speed. Sensor values carry a
//! little measurement noise, are rounded to 0.01 and always lie within PRODUCT.md §1's ranges;
//! PM1 ≤ PM2.5 ≤ PM10 always holds.

use std::{f64::consts::PI, time::Duration};

use praan_core::{
    codec::Codec,
    domain::{Ack, AckStatus, DeviceId, FanSpeed, FanState, PerMetric, Reading, Timestamp},
};
use rand::{Rng, SeedableRng, rngs::SmallRng};

use crate::command::{
    IncomingCommand, Outcome, RecentCommands, Request, UnusableCommand, parse_command,
};

/// How long a `--seed-compat` device stays on at speed 0 after `turnOn` before it switches itself
/// off (and reports `"autoOff": true`).
pub const AUTO_OFF_AFTER: Duration = Duration::from_secs(10);

/// How a simulated device behaves where the devices in the field and the protocol differ.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Mode {
    /// The protocol as PRODUCT.md §1 describes it: readings at every interval, on or off;
    /// `turnOn` with value 0 resumes the last running speed; expired commands are refused.
    #[default]
    Standard,
    /// The quirks of the old devices in the field: silent (no readings) while off; `turnOn`
    /// takes its value literally, and a device left on at speed 0 switches itself off after
    /// [`AUTO_OFF_AFTER`] and reports it with `"autoOff": true`; `expiresAt` is ignored.
    SeedCompat,
}

/// What a model is built from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DeviceSpec {
    /// The device id (also its MQTT client id and topic level).
    pub id: DeviceId,
    /// The seed of its random generator: same seed, same run.
    pub seed: u64,
    /// Its behaviour.
    pub mode: Mode,
    /// Its power and speed at start; `None` picks a running speed 1–5 from the seed.
    pub initial: Option<FanState>,
}

/// A sample to publish on the data topic.
#[derive(Clone, PartialEq, Debug)]
pub struct Report {
    /// The reading.
    pub reading: Reading,
    /// Whether the device just switched itself off (`"autoOff": true` on the wire).
    pub auto_off: bool,
}

impl Report {
    /// The data-topic payload: the reading as devices send it, plus `"autoOff":true` when set.
    pub fn encode(&self, codec: &Codec) -> Vec<u8> {
        let mut out = codec.encode_reading(&self.reading);
        if self.auto_off && out.last() == Some(&b'}') {
            out.pop();
            out.extend_from_slice(br#","autoOff":true}"#);
        }
        out
    }
}

/// What [`DeviceModel::handle_command`] did.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Handled {
    /// The ack to publish (always carries `currentState`).
    pub ack: Ack,
    /// Whether the command was carried out now (false for a refusal and for a duplicate).
    pub applied: bool,
    /// Whether its `commandId` had been handled before: acked again with the remembered outcome,
    /// not re-applied.
    pub duplicate: bool,
}

/// One simulated purifier.
#[derive(Clone, Debug)]
pub struct DeviceModel {
    id: DeviceId,
    mode: Mode,
    rng: SmallRng,
    power_on: bool,
    speed: FanSpeed,
    /// The speed `turnOn` with value 0 resumes (standard mode).
    resume_speed: FanSpeed,
    auto_off_at: Option<Timestamp>,
    recent: RecentCommands,
    air: Air,
    climate: Climate,
}

// ---- physics constants ----

/// Outdoor air infiltration, air changes per hour.
const INFILTRATION: f64 = 0.6;
/// Clean air delivery per fan speed step, air changes per hour.
const ACH_PER_SPEED: f64 = 1.5;
/// Particles: (outdoor level relative to outdoor PM2.5, deposition per hour, filter efficiency).
const PARTICLES: [(f64, f64, f64); 3] = [(0.6, 0.1, 0.95), (1.0, 0.3, 0.99), (1.8, 0.9, 0.995)];
/// VOC: deposition/adsorption per hour, filter (carbon) efficiency, indoor emission ppb per hour.
const VOC: (f64, f64, f64) = (0.05, 0.6, 12.0);
/// Indoor particle events ("cooking"), per hour.
const EVENTS_PER_HOUR: f64 = 1.0 / 3.0;
/// Fan noise at speeds 1–5, dB.
const FAN_DB: [f64; 5] = [32.0, 38.0, 44.0, 50.0, 56.0];

#[derive(Clone, Debug)]
struct Air {
    /// PM1, PM2.5, PM10 indoors, µg/m³.
    pm: [f64; 3],
    /// VOC indoors, ppb.
    voc: f64,
    outdoor_pm25: f64,
    outdoor_pm25_mean: f64,
    outdoor_voc: f64,
    outdoor_voc_mean: f64,
}

#[derive(Clone, Debug)]
struct Climate {
    temperature: f64,
    temperature_mean: f64,
    humidity: f64,
    humidity_mean: f64,
    network: f64,
    network_mean: f64,
    ambient_db: f64,
}

impl DeviceModel {
    /// A device as `spec` says, its environment drawn from the seed.
    pub fn new(spec: DeviceSpec) -> Self {
        let mut rng = SmallRng::seed_from_u64(spec.seed);
        let initial = spec.initial.unwrap_or_else(|| {
            FanState::at_speed(FanSpeed::new(rng.random_range(1..=5)).unwrap_or(FanSpeed::MAX))
        });
        let outdoor_pm25 = rng.random_range(15.0..70.0);
        let outdoor_voc = rng.random_range(20.0..60.0);
        let start = rng.random_range(0.6..1.2);
        let mut air = Air {
            pm: [0.0; 3],
            voc: 0.0,
            outdoor_pm25,
            outdoor_pm25_mean: outdoor_pm25,
            outdoor_voc,
            outdoor_voc_mean: outdoor_voc,
        };
        // Start near the off-equilibrium: the room before the purifier's first report.
        for (i, c) in air.pm.iter_mut().enumerate() {
            let (ratio, dep, _) = PARTICLES[i];
            *c = start * INFILTRATION * ratio * outdoor_pm25 / (INFILTRATION + dep);
        }
        air.voc = start * (INFILTRATION * outdoor_voc + VOC.2) / (INFILTRATION + VOC.0);
        let temperature_mean = rng.random_range(21.0..27.0);
        let humidity_mean = rng.random_range(35.0..65.0);
        let network_mean = rng.random_range(55.0..95.0);
        let climate = Climate {
            temperature: temperature_mean,
            temperature_mean,
            humidity: humidity_mean,
            humidity_mean,
            network: network_mean,
            network_mean,
            ambient_db: rng.random_range(28.0..36.0),
        };
        let resume_speed = if initial.fan_speed.is_off() {
            FanSpeed::new(1).unwrap_or(FanSpeed::MAX)
        } else {
            initial.fan_speed
        };
        Self {
            id: spec.id,
            mode: spec.mode,
            rng,
            power_on: initial.power_on,
            speed: initial.fan_speed,
            resume_speed,
            auto_off_at: None,
            recent: RecentCommands::default(),
            air,
            climate,
        }
    }

    /// The device id.
    pub fn id(&self) -> &DeviceId {
        &self.id
    }

    /// Its behaviour.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Its power and fan speed now (as it reports them).
    pub fn state(&self) -> FanState {
        FanState {
            power_on: self.power_on,
            fan_speed: self.speed,
        }
    }

    /// Whether the fan is turning (on, at a speed above 0).
    fn fan_running(&self) -> bool {
        self.power_on && !self.speed.is_off()
    }

    /// The next instant [`DeviceModel::handle_timeout`] has something to do, if any.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.auto_off_at
    }

    /// Runs what is due at `now` (the seed-compat auto-off); idempotent. Returns the `autoOff`
    /// report to publish when the device just switched itself off.
    pub fn handle_timeout(&mut self, now: Timestamp) -> Option<Report> {
        self.fire_timeout(now).then(|| Report {
            reading: self.sample(now),
            auto_off: true,
        })
    }

    /// Switches the device off if its auto-off is due; whether it did.
    fn fire_timeout(&mut self, now: Timestamp) -> bool {
        if self.auto_off_at.is_none_or(|t| t > now) {
            return false;
        }
        self.auto_off_at = None;
        self.power_on = false;
        self.speed = FanSpeed::OFF;
        true
    }

    /// Advances the room by `elapsed` (ending at `now`) and takes the periodic sample.
    ///
    /// Runs a due timeout first: if the device switches itself off here, the `autoOff` report is
    /// this step's sample. Returns `None` when the device is silent (seed-compat and off).
    pub fn step(&mut self, now: Timestamp, elapsed: Duration) -> Option<Report> {
        let auto_off = self.fire_timeout(now);
        self.advance(now, elapsed);
        // Sample even when silent, so the random sequence does not depend on the state.
        let reading = self.sample(now);
        let silent = self.mode == Mode::SeedCompat && !self.power_on;
        (auto_off || !silent).then_some(Report { reading, auto_off })
    }

    /// Handles one command payload received at `now`.
    ///
    /// A duplicate `commandId` (one of the last [`crate::command::RECENT_COMMANDS`]) is acked
    /// again with the outcome it had, and not re-applied; the ack's `currentState` is the state
    /// now. A payload without a usable `commandId` cannot be acked: it is an error.
    pub fn handle_command(
        &mut self,
        now: Timestamp,
        payload: &[u8],
    ) -> Result<Handled, UnusableCommand> {
        let cmd = parse_command(payload)?;
        Ok(self.handle(now, &cmd))
    }

    /// Handles a parsed command (see [`DeviceModel::handle_command`]).
    pub fn handle(&mut self, now: Timestamp, cmd: &IncomingCommand) -> Handled {
        if let Some(outcome) = self.recent.get(&cmd.command_id).cloned() {
            return Handled {
                ack: self.ack(now, cmd, outcome),
                applied: false,
                duplicate: true,
            };
        }
        let expired = self.mode == Mode::Standard && cmd.expires_at.is_some_and(|t| t < now);
        let outcome = if expired {
            Err("Command expired".to_owned())
        } else {
            self.apply(now, &cmd.request)
        };
        let applied = outcome.is_ok();
        let outcome = match outcome {
            Ok(message) => Outcome {
                status: AckStatus::Success,
                message,
            },
            Err(message) => Outcome {
                status: AckStatus::Error,
                message,
            },
        };
        self.recent.insert(cmd.command_id, outcome.clone());
        Handled {
            ack: self.ack(now, cmd, outcome),
            applied,
            duplicate: false,
        }
    }

    fn ack(&self, now: Timestamp, cmd: &IncomingCommand, outcome: Outcome) -> Ack {
        Ack {
            device_id: self.id.clone(),
            command_id: cmd.command_id,
            status: outcome.status,
            message: Some(outcome.message),
            timestamp: now,
            received_at: now,
            current_state: Some(self.state()),
        }
    }

    /// Carries out a request; the ack message, or the refusal.
    fn apply(&mut self, now: Timestamp, request: &Request) -> Result<String, String> {
        let speed = match *request {
            Request::Invalid(ref why) => return Err(why.clone()),
            Request::TurnOff => {
                self.switch(false, FanSpeed::OFF);
                return Ok("Device turned off".to_owned());
            }
            Request::SetFanSpeed(speed) => speed,
            Request::TurnOn(speed) => {
                let speed = match (self.mode, speed.is_off()) {
                    (_, false) => speed,
                    (Mode::Standard, true) => self.resume_speed,
                    (Mode::SeedCompat, true) => FanSpeed::OFF,
                };
                self.switch(true, speed);
                if speed.is_off() {
                    // The old devices' quirk: on at speed 0, then off by themselves.
                    self.auto_off_at = Some(now.saturating_add(AUTO_OFF_AFTER));
                }
                return Ok(format!("Device turned on at fan speed {speed}"));
            }
        };
        self.switch(!speed.is_off(), speed);
        Ok(format!("Fan speed set to {speed}"))
    }

    /// Sets power and speed (cancelling a pending auto-off).
    fn switch(&mut self, power_on: bool, speed: FanSpeed) {
        self.auto_off_at = None;
        self.power_on = power_on;
        self.speed = speed;
        if !speed.is_off() {
            self.resume_speed = speed;
        }
    }

    /// Evolves the room and the climate over `elapsed`.
    fn advance(&mut self, now: Timestamp, elapsed: Duration) {
        let dt = elapsed.as_secs_f64() / 3600.0; // hours
        let ach = if self.fan_running() {
            ACH_PER_SPEED * f64::from(self.speed.get())
        } else {
            0.0
        };
        // Every draw happens whatever the state (see the module docs).
        let z_out_pm = normal(&mut self.rng);
        let z_out_voc = normal(&mut self.rng);
        let event_roll: f64 = self.rng.random();
        let event_size: f64 = self.rng.random_range(10.0..60.0);
        let z_temp = normal(&mut self.rng);
        let z_hum = normal(&mut self.rng);
        let z_net = normal(&mut self.rng);

        let air = &mut self.air;
        air.outdoor_pm25 = ou(
            air.outdoor_pm25,
            air.outdoor_pm25_mean,
            1.0 / 6.0,
            8.0,
            dt,
            z_out_pm,
        )
        .clamp(3.0, 250.0);
        air.outdoor_voc = ou(
            air.outdoor_voc,
            air.outdoor_voc_mean,
            1.0 / 6.0,
            6.0,
            dt,
            z_out_voc,
        )
        .clamp(5.0, 200.0);
        let event = event_roll < 1.0 - (-EVENTS_PER_HOUR * dt).exp();
        for (i, c) in air.pm.iter_mut().enumerate() {
            let (ratio, dep, eff) = PARTICLES[i];
            let k = INFILTRATION + dep + ach * eff;
            let eq = INFILTRATION * ratio * air.outdoor_pm25 / k;
            *c = eq + (*c - eq) * (-k * dt).exp();
            if event {
                *c += event_size * ratio;
            }
        }
        let (dep, eff, emission) = VOC;
        let k = INFILTRATION + dep + ach * eff;
        let eq = (INFILTRATION * air.outdoor_voc + emission) / k;
        air.voc = eq + (air.voc - eq) * (-k * dt).exp();

        let c = &mut self.climate;
        let hour = (now.unix_millis().rem_euclid(86_400_000)) as f64 / 3_600_000.0;
        let daily = 1.5 * (2.0 * PI * (hour - 9.0) / 24.0).sin();
        c.temperature = ou(
            c.temperature,
            c.temperature_mean + daily,
            1.0,
            0.5,
            dt,
            z_temp,
        )
        .clamp(-40.0, 60.0);
        c.humidity = ou(c.humidity, c.humidity_mean, 0.5, 3.0, dt, z_hum).clamp(5.0, 95.0);
        c.network = ou(c.network, c.network_mean, 60.0, 20.0, dt, z_net).clamp(0.0, 100.0);
    }

    /// Reads the sensors at `now` (with measurement noise).
    fn sample(&mut self, now: Timestamp) -> Reading {
        let z_pm = normal(&mut self.rng);
        let z_voc = normal(&mut self.rng);
        let z_sound = normal(&mut self.rng);
        let pm_noise = (1.0 + 0.03 * z_pm).max(0.0);
        let [pm1, pm25, pm10] = self.air.pm.map(|c| round2((c * pm_noise).max(0.0)));
        let voc = round2((self.air.voc * (1.0 + 0.03 * z_voc)).max(0.0));
        let ambient = 10f64.powf(self.climate.ambient_db / 10.0);
        let fan = if self.fan_running() {
            let db = FAN_DB[usize::from(self.speed.get() - 1)];
            10f64.powf(db / 10.0)
        } else {
            0.0
        };
        let sound = round2((10.0 * (ambient + fan).log10() + 0.7 * z_sound).max(0.0));
        let metrics = PerMetric([
            Some(round2(self.climate.network).clamp(0.0, 100.0)),
            Some(round2(self.climate.temperature).clamp(-50.0, 100.0)),
            Some(round2(self.climate.humidity).clamp(0.0, 100.0)),
            // PM2.5 includes PM1 and PM10 includes PM2.5.
            Some(pm1.min(pm25)),
            Some(pm25),
            Some(pm10.max(pm25)),
            Some(sound),
            Some(voc),
        ]);
        Reading::new(
            self.id.clone(),
            now,
            now,
            metrics,
            Some(self.speed),
            Some(self.power_on),
        )
        .unwrap_or_else(|e| panic!("the device model produced an out-of-range reading: {e}"))
    }
}

/// One standard normal draw (Box–Muller; always two uniforms).
fn normal(rng: &mut SmallRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// An Ornstein–Uhlenbeck step of `dt` hours toward `mean` (rate `theta` per hour, volatility
/// `sigma` per √hour), exact for any `dt`.
fn ou(x: f64, mean: f64, theta: f64, sigma: f64, dt: f64, z: f64) -> f64 {
    let decay = (-theta * dt).exp();
    let sd = sigma * ((1.0 - decay * decay) / (2.0 * theta)).sqrt();
    mean + (x - mean) * decay + sd * z
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
