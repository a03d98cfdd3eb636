# Rendered by `desainz render nomad` from the topology "desainz"; edit topology.ts and render again.
job "desainz" {
  datacenters = ["dc1"]
  type        = "service"

  update {
    max_parallel     = 1
    min_healthy_time = "10s"
    auto_revert      = true
  }

  group "api" {
    count = 1
    network {
      port "http" {
        to = 8080
      }
    }
    service {
      name = "desainz-api"
      port = "http"
      check {
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }
    }
    task "api" {
      driver = "docker"
      config {
        image = "ghcr.io/example/desainz:0.1.0"
        args  = ["serve", "--port", "8080"]
        ports = ["http"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
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
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    task "occasions" {
      driver = "docker"
      config {
        image = "ghcr.io/example/desainz:0.1.0"
        args  = ["worker", "--only", "occasions"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
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
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    task "webhook" {
      driver = "docker"
      config {
        image = "ghcr.io/example/desainz:0.1.0"
        args  = ["worker", "--only", "webhook"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
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
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    task "dedupe" {
      driver = "docker"
      config {
        image = "ghcr.io/example/desainz:0.1.0"
        args  = ["worker", "--only", "dedupe"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
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
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    task "enrich" {
      driver = "docker"
      config {
        image = "ghcr.io/example/desainz:0.1.0"
        args  = ["worker", "--only", "enrich"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
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
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    task "score" {
      driver = "docker"
      config {
        image = "ghcr.io/example/desainz:0.1.0"
        args  = ["worker", "--only", "score"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
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
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    task "select" {
      driver = "docker"
      config {
        image = "ghcr.io/example/desainz:0.1.0"
        args  = ["worker", "--only", "select"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
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
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    task "prompt" {
      driver = "docker"
      config {
        image = "ghcr.io/example/desainz:0.1.0"
        args  = ["worker", "--only", "prompt"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
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
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    task "generate" {
      driver = "docker"
      config {
        image = "ghcr.io/example/desainz:0.1.0"
        args  = ["worker", "--only", "generate"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
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
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    task "mockup" {
      driver = "docker"
      config {
        image = "ghcr.io/example/desainz:0.1.0"
        args  = ["worker", "--only", "mockup"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
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
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    task "listing" {
      driver = "docker"
      config {
        image = "ghcr.io/example/desainz:0.1.0"
        args  = ["worker", "--only", "listing"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
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
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    task "review" {
      driver = "docker"
      config {
        image = "ghcr.io/example/desainz:0.1.0"
        args  = ["worker", "--only", "review"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
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

  # operator publish (publish-export): listings.approved -> listings.published
  group "publish" {
    count = 1
    restart {
      attempts = 10
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }
    task "publish" {
      driver = "docker"
      config {
        image = "ghcr.io/example/desainz:0.1.0"
        args  = ["worker", "--only", "publish"]
      }
      # SIGTERM: the worker stops reading, finishes and acks in-flight batches, exits 0.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"
      env {
        DESAINZ_CONSUMER = "${NOMAD_ALLOC_ID}"
        HOST             = "0.0.0.0"
      }
      template {
        destination = "secrets/desainz.env"
        env         = true
        data        = <<EOT
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
