"""The domain: clinics, appointments, consultations, cases, runs, schedules. No I/O."""
