# Rendered by `desainz render nomad` from the topology "desainz"; edit topology.ts and render again.
job "desainz" {
  datacenters = ["dc1"]
  type        = "service"

  update {
    max_parallel     = 1
    health_check     = "checks"
    min_healthy_time = "10s"
    healthy_deadline = "10m"
    auto_revert      = true
  }

  # the HTTP API and UI (desainz serve)
  group "api" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-api"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "api" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["serve", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # source occasions (occasions): - -> signals.raw
  group "occasions" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-occasions"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "occasions" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "occasions", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # source webhook (webhook): - -> signals.raw
  group "webhook" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-webhook"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "webhook" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "webhook", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # operator dedupe (dedupe): signals.raw -> signals.unique
  group "dedupe" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-dedupe"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "dedupe" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "dedupe", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # operator enrich (enrich): signals.unique -> signals.enriched
  group "enrich" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-enrich"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "enrich" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "enrich", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # operator score (score): signals.enriched -> ideas.scored
  group "score" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-score"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "score" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "score", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # operator select (select): ideas.scored -> ideas.selected
  group "select" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-select"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "select" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "select", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # operator prompt (prompt): ideas.selected -> gen.requests
  group "prompt" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-prompt"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "prompt" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "prompt", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # operator generate (generate): gen.requests -> gen.images
  group "generate" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-generate"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "generate" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "generate", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # operator mockup (mockup): gen.images -> mockups.ready
  group "mockup" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-mockup"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "mockup" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "mockup", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # operator mocked-up (sink): mockups.ready -> (sink)
  group "mocked-up" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-mocked-up"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "mocked-up" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "mocked-up", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # operator listing (listing): mockups.ready -> listings.draft
  group "listing" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-listing"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "listing" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "listing", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # operator review (review): listings.draft -> listings.approved
  group "review" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-review"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "review" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "review", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # operator publish (publish): listings.approved -> listings.published
  group "publish" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-publish"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "publish" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "publish", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # source printify-feedback (feedback-printify): - -> feedback.events
  group "printify-feedback" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-printify-feedback"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "printify-feedback" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "printify-feedback", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # operator feedback-store (feedback-store): feedback.events -> (sink)
  group "feedback-store" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-feedback-store"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "feedback-store" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "feedback-store", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # source promotion (feedback-promotion): - -> feedback.events
  group "promotion" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-promotion"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "promotion" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "promotion", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # source learner (feedback-learner): - -> weights.decisions
  group "learner" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-learner"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "learner" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "learner", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }

  # source sla-alert (feedback-sla-alert): - -> alerts
  group "sla-alert" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    service {
      provider = "nomad"
      name     = "desainz-sla-alert"
      port     = "http"
      tags     = ["desainz", "metrics"]
      check {
        name     = "ready"
        type     = "http"
        path     = "/health/ready"
        interval = "10s"
        timeout  = "3s"
      }
    }
    task "sla-alert" {
      driver = "docker"
      config {
        image = "desainz:latest"
        args  = ["worker", "--only", "sla-alert", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      # Not secret; everything secret comes from the Nomad Variable below.
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
        PORT             = "8080"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/desainz" -}}
          {{- range $k, $v := . }}
          {{ $k }}={{ $v }}
          {{- end }}
          {{- end }}
          EOT
      }
      resources {
        cpu    = 500
        memory = 768
      }
    }
  }
}
