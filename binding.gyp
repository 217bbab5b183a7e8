{
  "targets": [
    {
      "target_name": "ffrtmp",
      "sources": [
        "native/addon.cc",
        "native/exit_watcher.cc",
        "native/proc_connector.cc",
        "native/spawn.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "_GNU_SOURCE"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-Wall", "-Wextra"],
      "cflags_cc": ["-std=c++17", "-fexceptions"],
      "conditions": [
        ["OS!='linux'", {
          "sources!": [
            "native/addon.cc",
            "native/exit_watcher.cc",
            "native/proc_connector.cc",
            "native/spawn.cc"
          ]
        }]
      ]
    },
    {
      "target_name": "ffrtmp-keeper",
      "type": "executable",
      "sources": ["native/keeper.c"],
      "cflags": ["-Wall", "-Wextra", "-Os"],
      "ldflags": ["-static", "-s"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources!": ["native/keeper.c"] }]
      ]
    }
  ]
}
