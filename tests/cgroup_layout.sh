# Sourced by the e2e scripts that start containers: names the machine's
# cgroup layout, since runtimes differ on it (crun refuses hybrid).
cgroup_layout() {
    case $(stat -fc %T /sys/fs/cgroup 2>/dev/null) in
    cgroup2fs) echo "v2 (unified)" ;;
    tmpfs)
        if [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
            echo "hybrid (v1 controllers beside a cgroup2 mount)"
        else
            echo "v1"
        fi
        ;;
    *) echo "unknown" ;;
    esac
}
