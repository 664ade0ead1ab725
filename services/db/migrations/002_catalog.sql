-- The programme: venues, auditoriums and their seat maps, films, series and screenings.

CREATE TABLE venue (
    id uuid PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    name text NOT NULL,
    time_zone text NOT NULL,
    street text NOT NULL DEFAULT '',
    locality text NOT NULL DEFAULT '',
    region text NOT NULL DEFAULT '',
    postal_code text NOT NULL DEFAULT '',
    country text NOT NULL DEFAULT '',
    website text,
    hold_minutes integer NOT NULL DEFAULT 10 CHECK (hold_minutes BETWEEN 1 AND 120),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auditorium (
    id uuid PRIMARY KEY,
    venue_id uuid NOT NULL REFERENCES venue (id),
    slug text NOT NULL,
    name text NOT NULL,
    hearing_loop boolean NOT NULL DEFAULT false,
    cleaning_minutes integer NOT NULL DEFAULT 15 CHECK (cleaning_minutes >= 0),
    UNIQUE (venue_id, slug)
);

-- A seat: `row_number` counts from the screen (1 = front), `position` orders seats left to right
-- within a row so that neighbours differ by one; x/y place it on the drawn map.
CREATE TABLE seat (
    id uuid PRIMARY KEY,
    auditorium_id uuid NOT NULL REFERENCES auditorium (id),
    label text NOT NULL,
    row_label text NOT NULL,
    row_number integer NOT NULL,
    position integer NOT NULL,
    x numeric NOT NULL,
    y numeric NOT NULL,
    kind text NOT NULL DEFAULT 'standard'
        CHECK (kind IN ('standard', 'wheelchair', 'companion', 'aisle', 'restricted_view')),
    UNIQUE (auditorium_id, label),
    UNIQUE (auditorium_id, row_number, position)
);

CREATE TABLE film (
    id uuid PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    title text NOT NULL,
    original_title text,
    directors text[] NOT NULL DEFAULT '{}',
    countries text[] NOT NULL DEFAULT '{}',
    year integer CHECK (year BETWEEN 1870 AND 2200),
    runtime_minutes integer NOT NULL CHECK (runtime_minutes > 0),
    rating text NOT NULL DEFAULT 'NR',
    synopsis text NOT NULL DEFAULT '',
    spoken_languages text[] NOT NULL DEFAULT '{}',
    press_quotes jsonb NOT NULL DEFAULT '[]'::jsonb,
    website text,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE film_relation (
    film_id uuid NOT NULL REFERENCES film (id) ON DELETE CASCADE,
    related_film_id uuid NOT NULL REFERENCES film (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('follows', 'related', 'same_director')),
    PRIMARY KEY (film_id, related_film_id),
    CHECK (film_id <> related_film_id)
);

CREATE TABLE series (
    id uuid PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    title text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE film_series (
    film_id uuid NOT NULL REFERENCES film (id) ON DELETE CASCADE,
    series_id uuid NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    PRIMARY KEY (film_id, series_id)
);

-- A screening occupies its auditorium from starts_at until occupied_until (the end of the film
-- and its trailers plus the auditorium's cleaning time); two such spans never overlap.
CREATE TABLE screening (
    id uuid PRIMARY KEY,
    film_id uuid NOT NULL REFERENCES film (id),
    auditorium_id uuid NOT NULL REFERENCES auditorium (id),
    venue_id uuid NOT NULL REFERENCES venue (id),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    occupied_until timestamptz NOT NULL,
    format text NOT NULL DEFAULT 'DCP',
    audio_languages text[] NOT NULL DEFAULT '{}',
    subtitle_language text,
    subtitle_mode text CHECK (subtitle_mode IN ('open', 'closed')),
    features text[] NOT NULL DEFAULT '{}',
    currency char(3) NOT NULL DEFAULT 'USD',
    status text NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'on_sale', 'sold_out', 'cancelled')),
    notes text NOT NULL DEFAULT '',
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at AND occupied_until >= ends_at),
    CHECK ((subtitle_language IS NULL) = (subtitle_mode IS NULL)),
    CONSTRAINT screening_no_overlap EXCLUDE USING gist (
        auditorium_id WITH =,
        tstzrange(starts_at, occupied_until) WITH &&
    ) WHERE (status <> 'cancelled')
);
CREATE INDEX screening_starts ON screening (starts_at, id);
CREATE INDEX screening_film ON screening (film_id, starts_at);
CREATE INDEX screening_features ON screening USING gin (features);

CREATE TABLE screening_series (
    screening_id uuid NOT NULL REFERENCES screening (id) ON DELETE CASCADE,
    series_id uuid NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    PRIMARY KEY (screening_id, series_id)
);

CREATE TABLE screening_price (
    screening_id uuid NOT NULL REFERENCES screening (id) ON DELETE CASCADE,
    ticket_type text NOT NULL,
    amount integer NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (screening_id, ticket_type)
);
